"""The kernel's submission: IPython's input history as a notebook, without the check's own cells."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from vicheck.check.history import history_cells, notebook_from_cells, strip_check_calls


def test_a_cell_that_calls_the_check_is_left_out_whole() -> None:
    assert strip_check_calls("import vicheck\nvicheck.check()") == ""
    assert strip_check_calls("r = vicheck.check('sigmoid')\nprint(r.failed)") == ""
    assert strip_check_calls("x = 1\nvicheck.check.check()") == ""


def test_imports_of_vicheck_are_left_out_of_any_cell() -> None:
    assert (
        strip_check_calls("import torch\nimport vicheck\ndef f(x):\n    return x\n")
        == "import torch\ndef f(x):\n    return x\n"
    )
    assert strip_check_calls("import vicheck") == ""
    assert strip_check_calls("from vicheck import check as c") == ""


def test_names_bound_to_the_check_are_followed_across_cells() -> None:
    known: set[str] = set()
    assert strip_check_calls("from vicheck import check", known) == ""
    assert strip_check_calls("check('sigmoid')", known) == ""
    assert strip_check_calls("import vicheck as v", known) == "" and strip_check_calls("v.check()", known) == ""


def test_the_students_code_is_kept_as_typed() -> None:
    source = "def sigmoid(x):\n    return torch.sigmoid(x)  # vicheck says so\n"
    assert strip_check_calls(source) == source
    magic = "%time x = 1\nvicheck.check()"  # IPython syntax: not Python, kept whole for the grader
    assert strip_check_calls(magic) == magic


def test_history_in_order_with_reruns(tmp_path: Path) -> None:
    raw = [
        "",
        "import torch",
        "def f(x):\n    return x",
        "import vicheck\nvicheck.check()",
        "def f(x):\n    return 2 * x",
        "",
    ]
    shell = SimpleNamespace(history_manager=SimpleNamespace(input_hist_raw=raw))
    cells = history_cells(shell)
    assert cells == ["import torch", "def f(x):\n    return x", "def f(x):\n    return 2 * x"]
    path = notebook_from_cells(cells, tmp_path / "nb.ipynb")
    nb = json.loads(path.read_text())
    assert nb["nbformat"] == 4 and [c["source"] for c in nb["cells"]] == cells
    assert all(c["cell_type"] == "code" for c in nb["cells"])
    import nbformat

    nbformat.validate(nbformat.reads(path.read_text(), as_version=4))
