"""The notebook executor (``vicheck/sandbox/_cells.py``): cells run through IPython's shell as Jupyter runs
them; magics work, shell escapes and system magics are refused and recorded, nothing is written to disk, and
the lecture's notebook defines what its functions as a ``.py`` define, with the same values."""

from __future__ import annotations

import builtins
import gc
import json
import os
import shutil
import subprocess
import sys
import types
import weakref
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.pyplot as plt  # its font cache is read now, before a test moves HOME
import nbformat
import pytest
import torch
import torch.distributions as dist

from reference.contract import NAMES
from vicheck.sandbox import _cells
from vicheck.sandbox._cells import clean_source_for_scan, run_cells
from vicheck.sandbox.loading import (
    InProcessImplementation,
    load_module_in_process,
    load_notebook_in_process,
    scan_blocked_imports,
)

HERE = Path(__file__).resolve().parents[1]  # tests/
LECTURE_NB = HERE / "data" / "lecture_4.ipynb"
LECTURE_PY = HERE / "submissions" / "lecture_4_functions.py"
CELLS_FILE = HERE.parent / "vicheck" / "sandbox" / "_cells.py"


def _namespace(name: str = "nb_under_test") -> dict[str, Any]:
    return types.ModuleType(name).__dict__


def _write_notebook(path: Path, cells: list[str]) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# a student's notebook")]
    nb.cells += [nbformat.v4.new_code_cell(source) for source in cells]
    nbformat.write(nb, str(path))
    return path


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working folder, HOME and IPYTHONDIR of their own (the latter not created)."""
    for name in ("work", "home"):
        (tmp_path / name).mkdir()
    monkeypatch.chdir(tmp_path / "work")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    return tmp_path


# ------------------------------------------------------------------------------------------------ magics


def test_harmless_magics_run_as_in_jupyter(scratch: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ns = _namespace()
    problems = run_cells(
        [
            (0, "%matplotlib inline\nimport matplotlib.pyplot as plt\ncalls = []\ndef tick():\n    calls.append(1)"),
            (
                1,
                "%time a = 6 * 7\n%timeit -n 1000 -r 7 tick()\n%precision 3\n"
                "%config InlineBackend.figure_format = 'retina'",
            ),
            (2, "%%time\nb = a + 1\nb"),
            (3, "%%timeit -n 500\ntick()"),
            (4, "%load_ext autoreload\n%autoreload 2\n%who"),
            (5, "def double(x):\n    %time y = 2 * x\n    return 2 * x"),
            (6, "%matplotlib qt\nplt.plot([1, 2])\nplt.show()\nbackend = plt.get_backend()"),
            (7, "len?"),
        ],
        ns,
    )
    assert problems == []
    assert (ns["a"], ns["b"]) == (42, 43)
    assert len(ns["calls"]) == 2  # each %timeit ran its statement once
    assert ns["double"](5) == 10  # the %time inside the body runs when the function is called
    assert ns["backend"].lower() == "agg" and plt.get_fignums() == []  # no GUI, figures closed after the cell
    out = capsys.readouterr().out
    assert "CPU times" in out and "Wall time" in out and "1 loop each" in out
    assert "43" in out  # the value of %%time's last expression is shown
    assert "Return the number of items in a container" in out  # help printed, no pager


def test_display_and_get_ipython_exist_as_in_jupyter(scratch: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from IPython.core.interactiveshell import InteractiveShell

    before = InteractiveShell._instance
    ns = _namespace()
    problems = run_cells(
        [
            (0, "display(torch_like := [1.5, 2.5])\nshell = get_ipython()"),
            (1, "from IPython import get_ipython as imported\nfrom IPython.display import display as d2, HTML"),
            (
                2,
                "same = imported() is shell\nd2(HTML('<b>bold</b>'))\n"
                "namespace_is_user_ns = shell.user_ns is globals()",
            ),
        ],
        ns,
    )
    assert problems == []
    assert ns["same"] and ns["namespace_is_user_ns"]
    assert "[1.5, 2.5]" in capsys.readouterr().out
    assert InteractiveShell._instance is before  # the process's IPython instance is restored
    ns2 = _namespace()
    try:
        assert run_cells([(0, "shell = get_ipython()")], ns2, keep_shell=True) == []
        import IPython

        assert IPython.get_ipython() is ns2["shell"]  # what the child keeps for calls into the submission
    finally:
        InteractiveShell._instance = before


SHELL = "ShellEscapeRefused"
MAGIC = "MagicRefused"


@pytest.mark.parametrize(
    ("line", "kind", "shown"),
    [
        ("!touch marker", SHELL, "!touch marker"),
        ("files = !touch marker", SHELL, "!touch marker"),
        ("!!touch marker", SHELL, "!touch marker"),
        ("%sx touch marker", SHELL, "%sx touch marker"),
        ("%system touch marker", SHELL, "%system touch marker"),
        ("%pip install scipy", SHELL, "%pip install scipy"),
        ("%conda install scipy", SHELL, "%conda install scipy"),
        ("%ls", SHELL, "%ls"),
        ("%run marker.py", MAGIC, "%run marker.py"),
        ("%load marker.py", MAGIC, "%load marker.py"),
        ("%cd ..", MAGIC, "%cd .."),
        ("%env MARKER=1", MAGIC, "%env MARKER=1"),
        ("%store a", MAGIC, "%store a"),
        ("%edit marker.py", MAGIC, "%edit marker.py"),
        ("%save marker.py 1", MAGIC, "%save marker.py 1"),
        ("%logstart marker.py", MAGIC, "%logstart marker.py"),
        ("%history -f marker.py", MAGIC, "%history -f marker.py"),
    ],
)
def test_a_refused_line_is_recorded_and_the_rest_of_the_cell_runs(
    scratch: Path, line: str, kind: str, shown: str
) -> None:
    ns = _namespace()
    cwd = os.getcwd()
    problems = run_cells([(0, "a = 1"), (3, f"x = 1\n{line}\ndef f():\n    return a + 1"), (5, "b = f()")], ns)
    what = "shell escapes are" if kind == SHELL else "this magic is"
    assert problems == [("cell 3", kind, f"{what} not run by the grader: {shown}", line)]
    assert ns["b"] == 2  # f, defined after the refused line, exists; the next cell ran
    assert os.getcwd() == cwd and "MARKER" not in os.environ
    assert os.listdir(scratch / "work") == []


@pytest.mark.parametrize(
    ("header", "kind"),
    [
        *[("%%bash", SHELL), ("%%sh", SHELL), ("%%script bash", SHELL), ("%%system", SHELL), ("%%!", SHELL)],
        *[("%%writefile marker.py", MAGIC), ("%%file marker.py", MAGIC), ("%%prun", MAGIC), ("%%debug", MAGIC)],
    ],
)
def test_a_refused_cell_magic_runs_nothing_and_the_next_cells_run(scratch: Path, header: str, kind: str) -> None:
    ns = _namespace()
    problems = run_cells([(1, f"{header}\ntouch marker\nmarker = 1"), (2, "after = 2")], ns)
    what = "shell escapes are" if kind == SHELL else "this magic is"
    assert problems == [("cell 1", kind, f"{what} not run by the grader: {header}", header)]
    assert ns["after"] == 2 and "marker" not in ns
    assert os.listdir(scratch / "work") == []


def test_refusals_also_hold_for_the_shell_api_and_automagic(scratch: Path) -> None:
    ns = _namespace()
    problems = run_cells(
        [
            (
                0,
                "get_ipython().system('touch a')\nget_ipython().system_raw('touch b')\n"
                "out = get_ipython().getoutput('ls')",
            ),
            (
                1,
                "get_ipython().run_cell_magic('bash', '', 'touch c')\n"
                "for i in range(500):\n    get_ipython().system('x')",
            ),
            (2, "ls"),  # a lone shell alias is automagic, as in Jupyter
            (3, "def later():\n    !touch d\n    return 3"),
        ],
        ns,
    )
    assert [(p[0], p[1], p[2].split(": ", 1)[1]) for p in problems] == [
        ("cell 0", SHELL, "!touch a"),
        ("cell 0", SHELL, "!touch b"),
        ("cell 0", SHELL, "!ls"),
        ("cell 1", SHELL, "%%bash"),
        ("cell 1", SHELL, "!x"),  # a loop of escapes is one problem
        ("cell 2", SHELL, "%ls"),
    ]
    assert problems[0][3] == "get_ipython().system('touch a')" and problems[5][3] == "ls"
    assert list(ns["out"]) == []  # an escape's output is empty
    assert ns["later"]() == 3  # after loading, an escape in a function is a no-op, not a problem
    assert os.listdir(scratch / "work") == []


# ------------------------------------------------------------------------------------------------ errors


def test_errors_are_recorded_per_cell_and_the_next_cells_run(scratch: Path) -> None:
    ns = _namespace()
    problems = run_cells(
        [
            (0, "undefined_name + 1"),
            (2, "raise SystemExit(3)"),
            (3, "def (:"),
            (4, "raise KeyboardInterrupt"),
            (5, "class Hostile(Exception):\n    def __str__(self):\n        raise SystemExit('no')\nraise Hostile()"),
            (6, "%%time\nraise RuntimeError('timed')"),
            (7, "%%capture captured\nprint('hidden')\nraise ValueError('captured')"),
            (8, "%autoreload 2"),  # the extension is not loaded: IPython's UsageError
            (9, "import sys\nsys.exit()"),
            (10, "done = True"),
        ],
        ns,
    )
    assert problems == [
        ("cell 0", "NameError", "name 'undefined_name' is not defined", "undefined_name + 1"),
        ("cell 2", "SystemExit", "3", "raise SystemExit(3)"),
        ("cell 3", "SyntaxError", "invalid syntax (<cell 3>, line 1)", "def (:"),
        ("cell 4", "KeyboardInterrupt", "", "raise KeyboardInterrupt"),
        ("cell 5", "Hostile", "<message could not be read>", "class Hostile(Exception):"),
        ("cell 6", "RuntimeError", "timed", "%%time"),
        ("cell 7", "ValueError", "captured", "%%capture captured"),
        ("cell 8", "UsageError", "Line magic function `%autoreload` not found.", "%autoreload 2"),
        ("cell 9", "SystemExit", "", "import sys"),
    ]
    assert ns["done"] is True


def test_nothing_is_written_and_the_process_is_left_as_it_was(scratch: Path) -> None:
    from IPython.core.interactiveshell import InteractiveShell

    def state() -> tuple[Any, ...]:
        flags = (hasattr(builtins, "__IPYTHON__"), hasattr(builtins, "display"), hasattr(sys, "ps1"))
        return (InteractiveShell._instance, flags, list(sys.path), os.getcwd(), os.environ.get("HOME"))

    before = state()
    ns = _namespace("nb_leaves_no_trace")
    problems = run_cells(
        [
            (0, "%config HistoryManager.enabled = True\n%config HistoryManager.hist_file = 'history.sqlite'"),
            (1, "x = 1\nx\n%time y = x\n%who\n%logstart\n%history -f hist.py\n%save saved.py 0"),
            (2, "%%writefile written.py\nprint(1)"),
            (3, "%store x\n%bookmark here\n%reset -f\nz = 3"),
            (4, "import matplotlib.pyplot as plt\nplt.plot([0, 1])\nplt.show()"),
        ],
        ns,
    )
    assert [p[1] for p in problems] == ["MagicRefused"] * 6
    assert ns["z"] == 3 and "x" not in ns  # %reset cleared the namespace, as in Jupyter
    assert os.listdir(scratch / "work") == [] and os.listdir(scratch / "home") == []
    assert not (scratch / "ipython").exists()
    assert state() == before  # no IPython instance, builtins, sys.ps1 or sys.path entry left
    assert "nb_leaves_no_trace" not in sys.modules
    shell = weakref.ref(ns["get_ipython"]())
    del ns
    gc.collect()
    assert shell() is None  # nothing (an atexit hook, a singleton) keeps the shell and the namespace alive


def test_without_ipython_the_cells_run_without_magics(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_cells, "_SHELL_CLASS", None)
    for name in [m for m in sys.modules if m == "IPython" or m.startswith("IPython.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "IPython", None)
    ns = _namespace()
    problems = run_cells([(0, "%matplotlib inline\nif True:\n    !ls\nx = 1"), (1, "%%bash\nls"), (2, "1 / 0")], ns)
    assert problems[0][:2] == ("notebook", "ImportError") and "magics skipped" in problems[0][2]
    assert problems[1:] == [("cell 2", "ZeroDivisionError", "division by zero", "1 / 0")]
    assert ns["x"] == 1
    assert clean_source_for_scan("%time x\nif x:\n    !ls\nimport vicheck") == "pass\nif x:\n    pass\nimport vicheck\n"


# ------------------------------------------------------------------------------------------- static scan


def test_the_scan_sees_the_python_a_cell_becomes() -> None:
    source = "%time import vicheck\n!pip install reference\nx = 1"
    code = clean_source_for_scan(source)
    assert "get_ipython().run_line_magic('time', 'import vicheck')" in code
    assert "get_ipython().system('pip install reference')" in code
    assert [src for _, src in scan_blocked_imports(code)] == ["import vicheck"]
    nested = "%%time\nfrom properties import x\n%timeit -n 3 -r 1 import tests.data\n%load_ext reference"
    nested += "\n%time --no-raise-error import benchmarks"
    found = {src for _, src in scan_blocked_imports(clean_source_for_scan(nested))}
    assert found == {"from properties import x", "import tests.data", "import reference", "import benchmarks"}
    assert scan_blocked_imports(clean_source_for_scan("%%bash\nimport vicheck")) == []  # bash is not Python
    assert scan_blocked_imports(clean_source_for_scan("def (:\nimport vicheck")) == []  # nor is a syntax error


# --------------------------------------------------------------------------------- the child loads it by path


def test_a_child_without_the_grader_packages_loads_the_executor_by_path(tmp_path: Path) -> None:
    shutil.copy(CELLS_FILE, tmp_path / "_cells.py")
    (tmp_path / "home").mkdir()
    (tmp_path / "run.py").write_text(
        """
import importlib.util, json, sys, types

class Block:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("vicheck", "reference", "properties", "tests"):
            raise ImportError("blocked", name=name)

sys.meta_path.insert(0, Block())
try:
    import vicheck
    blocked = False
except ImportError:
    blocked = True
spec = importlib.util.spec_from_file_location("_vicheck_cells", "_cells.py")
cells = importlib.util.module_from_spec(spec)
sys.modules["_vicheck_cells"] = cells
spec.loader.exec_module(cells)
submission = types.ModuleType("__submission__")
sys.modules["__submission__"] = submission
notebook = [
    (0, "%time x = 6 * 7\\n!touch marker"),
    (2, "%%time\\ny = x + 1"),
    (3, "def f():\\n    %time z = y\\n    return y"),
]
problems = cells.run_cells(notebook, submission.__dict__, keep_shell=True)
import IPython
result = {"blocked": blocked, "problems": problems, "x": submission.x, "y": submission.f(),
          "instance": IPython.get_ipython() is submission.get_ipython()}
print("RESULT " + json.dumps(result))
"""
    )
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path / "home")}
    proc = subprocess.run(
        [sys.executable, "-I", "run.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))
    result = json.loads(line.removeprefix("RESULT "))
    assert result == {
        "blocked": True,
        "problems": [["cell 0", SHELL, "shell escapes are not run by the grader: !touch marker", "!touch marker"]],
        "x": 42,
        "y": 43,
        "instance": True,
    }
    assert set(os.listdir(tmp_path)) - {"__pycache__"} == {"_cells.py", "home", "run.py"}
    assert os.listdir(tmp_path / "home") == []


# ---------------------------------------------------------------------------------------- the lecture's code


def _notebook_from_functions(path: Path) -> Path:
    """The lecture's functions split into cells, with what students' notebooks hold around them."""
    blocks = [b.strip("\n") for b in LECTURE_PY.read_text().split("\n\n\n") if b.strip()]
    cells = [
        "%matplotlib inline\n%load_ext autoreload\n%autoreload 2\n!pip install scipy\n" + blocks[0],
        "%%time\n" + blocks[1],
        *blocks[2:4],
        blocks[4].replace("\n", "\n    %time unused = 0\n", 1),  # a magic inside a function body
        blocks[5] + "\ndisplay(sigmoid(torch.tensor([0.0])))\nget_ipython()",
        "%config InlineBackend.figure_format = 'retina'\n%precision 4",
        *blocks[6:],
        "%time log_evidence()\n%who",
    ]
    return _write_notebook(path, cells)


def _call_all(impl: Any) -> dict[str, Any]:
    normal, wide = dist.Normal(0.0, 1.0), dist.Normal(1.0, 2.0)
    calls: dict[str, tuple[Any, ...]] = {
        "sigmoid": (torch.tensor([0.3, -2.0]),),
        "sigmoid_prime": (torch.tensor([0.3]),),
        "integrate": (torch.exp, 0.0, 1.0),
        "kl_divergence_1": (normal, wide, -10.0, 10.0),
        "kl_divergence_2": (normal, wide, 1000),
        "lp_transformed": (torch.tensor([0.5]), dist.Gamma(2.0, 1.0), dist.transforms.ExpTransform()),
        "derivative_lp": (dist.Beta(2.0, 2.0), torch.tensor(0.3)),
        "likelihood": (torch.tensor([0.3, 0.6]),),
        "DKL_QP": ([-1.0, 1.0],),
        "ELBO_loss": ([-1.0, 1.0],),
        "log_evidence": (),
    }
    values = {name: impl.invoke(name, *args, seed=0) for name, args in calls.items()}
    values["mode_seeking_loss"] = impl.invoke(impl.invoke("mode_seeking_loss", normal), (0.5, 1.2), seed=0)
    values["flips"] = impl.get("flips")
    return values


@pytest.mark.slow  # the lecture notebook's brute-force fits take about 20 s
def test_the_lecture_as_notebooks_matches_its_functions_as_a_py(tmp_path: Path) -> None:
    module, py_problems = load_module_in_process(LECTURE_PY)
    assert py_problems == []
    py = InProcessImplementation(module, label="py")
    built = load_notebook_in_process(_notebook_from_functions(tmp_path / "functions.ipynb"))
    assert built.load_problems()[0].exc_type == SHELL
    assert [str(p) for p in built.load_problems()] == [
        "cell 1 (`!pip install scipy`): ShellEscapeRefused: shell escapes are not run by the grader: !pip install scipy"
    ]
    lecture = load_notebook_in_process(LECTURE_NB)
    assert lecture.load_problems() and all(
        p.exc_type == "FileNotFoundError" and "lecture_4_figs" in p.message for p in lecture.load_problems()
    )
    assert built.names() == lecture.names() == py.names() == frozenset(NAMES)
    expected = _call_all(py)
    for impl in (built, lecture):
        got = _call_all(impl)
        for name, value in expected.items():
            assert torch.equal(torch.as_tensor(got[name]), torch.as_tensor(value)), name
    assert matplotlib.get_backend().lower() == "agg"
