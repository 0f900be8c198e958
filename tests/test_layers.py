"""The project's layers point one way: ``reference`` <- ``properties`` <- ``vicheck.grading``, and the sandbox
knows nothing of grading. Checked on the import statements of every module (not on strings: the plugin's
old name, ``properties/plugin.py``, names the grader's plugin for pytest to load, and imports nothing).
Also: no module of ``vicheck/`` grows past the size a reader can hold (~500 lines)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: package -> the packages its modules may not import
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "reference": ("properties", "vicheck"),
    "properties": ("vicheck.grading",),
    "vicheck/sandbox": ("vicheck.grading", "properties"),
}
MAX_LINES = 500


def _imports(path: Path) -> list[str]:
    """Every module ``path`` imports, at any depth (deferred imports in functions included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
    return found


def _modules(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layers_point_one_way(package: str) -> None:
    bad = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in _modules(package)
        for name in _imports(path)
        if any(name == f or name.startswith(f + ".") for f in FORBIDDEN[package])
    ]
    assert not bad, "\n".join(bad)


def test_the_checker_sees_a_deferred_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from vicheck.grading.rubric import load_rubric\n    import vicheck.grading.cli\n")
    assert {"vicheck.grading.rubric", "vicheck.grading.cli"} <= set(_imports(module))


def test_no_module_of_vicheck_is_a_monolith() -> None:
    sizes = {path: len(path.read_text(encoding="utf-8").splitlines()) for path in _modules("vicheck")}
    big = [f"{p.relative_to(ROOT)}: {n} lines" for p, n in sizes.items() if n > MAX_LINES and "examples" not in p.parts]
    assert not big, "\n".join(big)
