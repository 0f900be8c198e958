"""The self-check sits above the grader: nothing in the sandbox or the property suite imports it."""

from __future__ import annotations

import pytest

from tests.test_layers import ROOT, _imports, _modules


@pytest.mark.parametrize("package", ["vicheck/sandbox", "properties", "reference"])
def test_nothing_below_imports_the_check(package: str) -> None:
    bad = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in _modules(package)
        for name in _imports(path)
        if name == "vicheck.check" or name.startswith("vicheck.check.")
    ]
    assert not bad, "\n".join(bad)


def test_import_vicheck_stays_light() -> None:
    import subprocess
    import sys

    code = (
        "import sys, vicheck; vicheck.check; import vicheck.check.cli, vicheck.check.api, vicheck.check.session; "
        "print(sorted(m for m in ('torch', 'pytest', 'hypothesis', 'numpy', 'scipy') if m in sys.modules))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"
