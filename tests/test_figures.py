"""``vicheck figures``: every figure renders (Agg) to a valid, non-blank image; matplotlib stays optional."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from vicheck import figures
from vicheck.cli import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """All nine figures, rendered once through the command line into a folder it has to create."""
    out = tmp_path_factory.mktemp("figures") / "nested" / "out"
    assert main(["figures", str(out), "--dpi", "60"]) == 0
    return out


def test_command_writes_the_nine_figures(rendered: Path) -> None:
    assert sorted(p.name for p in rendered.iterdir()) == sorted(f"{name}.png" for name in figures.FIGURES)
    assert len(figures.FIGURES) == 9


@pytest.mark.parametrize("name", figures.FIGURES)
def test_figure_is_a_valid_non_blank_png(rendered: Path, name: str) -> None:
    import matplotlib.image

    path = rendered / f"{name}.png"
    assert path.is_file()
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC)
    assert len(data) > 5_000, f"{path} is suspiciously small ({len(data)} bytes)"
    pixels = matplotlib.image.imread(path)
    assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert float(pixels[..., :3].std()) > 0.01, f"{path} is blank"


def test_only_and_pdf(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["figures", str(tmp_path), "--format", "pdf", "--only", "constraints_linear"])
    assert rc == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [str(tmp_path / "constraints_linear.pdf")]
    assert [p.name for p in tmp_path.iterdir()] == ["constraints_linear.pdf"]
    data = (tmp_path / "constraints_linear.pdf").read_bytes()
    assert data.startswith(b"%PDF") and len(data) > 1_000


def test_one_printed_line_per_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    names = ["kl_mixture_compute", "constraints_log"]
    assert main(["figures", str(tmp_path), "--dpi", "40", "--only", *names]) == 0
    assert capsys.readouterr().out.splitlines() == [str(tmp_path / f"{n}.png") for n in names]


def test_unknown_figure_name_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as excinfo:
        main(["figures", str(tmp_path), "--only", "no_such_figure"])
    assert excinfo.value.code == 2


def test_directory_that_is_a_file_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "a_file"
    target.write_text("")
    assert main(["figures", str(target)]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cannot create" in err


def test_exact_optima() -> None:
    """The fits the figures draw: the exact optima the issue names, and the lecture's fits beside them."""
    fitted, exact = figures._mode_seeking()
    assert exact.mu == pytest.approx(3.99987, abs=1e-5) and exact.sigma == pytest.approx(0.50025, abs=1e-5)
    assert fitted.mu == pytest.approx(3.99999, abs=1e-4) and fitted.sigma == pytest.approx(0.50044, abs=1e-4)
    fitted, exact = figures._mass_covering()
    assert exact.mu == pytest.approx(2.0, abs=1e-12)
    assert exact.sigma == pytest.approx(2.5248762345905194, abs=1e-12)
    assert fitted.mu == pytest.approx(2.0005, abs=1e-3) and fitted.sigma == pytest.approx(2.52487, abs=1e-3)
    for which in ("DKL_QP", "ELBO_loss"):
        fitted, exact = figures._coin(which)
        assert fitted.mu == pytest.approx(-0.3297, abs=1e-3) and fitted.sigma == pytest.approx(0.8174, abs=1e-3)
        assert exact.mu == pytest.approx(-0.329726, abs=1e-5) and exact.sigma == pytest.approx(0.817149, abs=1e-5)


def test_affine_figure_uses_the_correct_map_and_title() -> None:
    import matplotlib.pyplot as plt

    figures.import_pyplot()
    fig = figures._constraints_linear()
    try:
        left, middle, _ = fig.axes
        ys, xs = (np.asarray(v, dtype=float) for v in left.lines[0].get_data())
        assert xs == pytest.approx(1 + (4 - 1) * ys, abs=1e-5)  # x = a + (b - a) y with a=1, b=4
        assert "Uniform(1,4)" in middle.get_title() and "4,6" not in middle.get_title()
    finally:
        plt.close(fig)


def test_missing_matplotlib_gives_one_line_and_non_zero_exit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A None entry in sys.modules makes ``import matplotlib`` raise ImportError.
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    rc = main(["figures", str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert rc != 0
    assert captured.out == ""
    assert captured.err.splitlines() == [figures.INSTALL_HINT]
    assert "pip install 'vicheck[plots]'" in captured.err
    assert not (tmp_path / "out").exists()


def test_missing_matplotlib_in_a_fresh_interpreter(tmp_path: Path) -> None:
    """The real command line, with matplotlib hidden before anything imports it: no traceback."""
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["matplotlib"] = None
        sys.argv = ["vicheck", "figures", {str(tmp_path / "out")!r}]
        import runpy
        runpy.run_module("vicheck", run_name="__main__")
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == [figures.INSTALL_HINT]
    assert "Traceback" not in proc.stderr
