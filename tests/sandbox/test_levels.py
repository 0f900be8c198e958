"""What a submission's interpreter loses of ``sys.path``: the grader's project folder, never a site-packages."""

from __future__ import annotations

import site
import sys
from pathlib import Path

from vicheck.sandbox._levels import grader_path_entries

ROOT = Path(__file__).resolve().parents[2]


def test_a_checkout_or_editable_install_loses_its_project_folder() -> None:
    assert grader_path_entries() == [str(ROOT)]
    assert grader_path_entries(ROOT / "tests" / "..") == [str(ROOT)]


def test_an_installed_grader_keeps_site_packages(tmp_path: Path) -> None:
    # `pip install vicheck` puts the grader beside scipy: stripping that folder made every submission that imports
    # scipy fail to load (found by scripts/gradescope-rehearsal); the grader's packages are refused by name there
    for name in ("site-packages", "dist-packages"):
        folder = tmp_path / "lib" / name
        folder.mkdir(parents=True)
        assert grader_path_entries(folder) == []
    real = next(p for p in sys.path if p.endswith("site-packages"))
    assert grader_path_entries(Path(real)) == []
    assert all(grader_path_entries(Path(p)) == [] for p in site.getsitepackages() if Path(p).is_dir())
