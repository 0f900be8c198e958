"""Draw the golden class page (``class_page.html``, ``class_page.md``) with vicheck's class page from before
the ``classpage`` package (``vicheck/grading/class_report.py`` of commit 96bb2d1)::

    git worktree add /tmp/old 96bb2d1
    cd /tmp/old && PYTHONPATH=/tmp/old python /path/to/tests/grading/report/classpage/data/make_golden.py

The class is :func:`classdir.build_varied_class`, dated :data:`classdir.NOW`, with the contract fixed to
:data:`classdir.CONTRACT` and matplotlib hidden (the plain HTML histogram: matplotlib's SVG differs between
its versions). The folder's path and vicheck's version are written as ``@FOLDER@`` and ``@VERSION@``.
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import classdir  # noqa: E402


def main() -> None:
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.ticker"):
        sys.modules[name] = None  # type: ignore[assignment]  # `import matplotlib` now raises ImportError
    from vicheck.grading import class_report as old  # type: ignore[attr-defined]

    old._contract_names = lambda: classdir.CONTRACT
    with tempfile.TemporaryDirectory() as tmp:
        folder = classdir.build_varied_class(Path(tmp) / "grades")
        st = old.class_statistics(old.load_reports(folder), now=classdir.NOW)
        st = dataclasses.replace(st, provenance=dataclasses.replace(st.provenance, vicheck="@VERSION@"))
        for text, name in ((old.render_html(st), "class_page.html"), (old.render_markdown(st), "class_page.md")):
            (HERE / name).write_text(text.replace(str(folder), "@FOLDER@"), encoding="utf-8", newline="")


if __name__ == "__main__":
    main()
