"""Executing a notebook's code cells without a kernel, in this process (for trusted code and fast tests).

The executor is the one the child process uses (:func:`vicheck.sandbox._child.run_cells`): cells run one by
one in one namespace, IPython magics and shell lines are skipped, a cell that raises is recorded as a
:class:`~vicheck.implementation.LoadProblem` (``"cell N"``, N the cell's index in the notebook) and the next
cell runs. Matplotlib is switched to the Agg backend first, so ``plt.show()`` is harmless.
"""

from __future__ import annotations

import types
from pathlib import Path

from vicheck.implementation import InProcessImplementation, LoadProblem
from vicheck.sandbox._child import run_cells

__all__ = ["load_notebook_in_process", "notebook_cells"]


def notebook_cells(path: Path) -> list[tuple[int, str]]:
    """``(index, source)`` of every code cell of the notebook at ``path`` (read with nbformat, v4)."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    return [(i, str(cell.source)) for i, cell in enumerate(nb.cells) if cell.cell_type == "code"]


def load_notebook_in_process(path: Path, aliases: dict[str, str] | None = None) -> InProcessImplementation:
    """Run the notebook's code cells in a fresh module namespace in this process."""
    path = Path(path)
    try:
        import matplotlib

        matplotlib.use("Agg")
    except ImportError:  # pragma: no cover - matplotlib is optional
        pass
    module = types.ModuleType(f"vicheck_notebook_{abs(hash(str(path)))}")
    module.__file__ = str(path)
    problems = [LoadProblem(*p) for p in run_cells(notebook_cells(path), module.__dict__)]
    return InProcessImplementation(module, label=str(path), aliases=aliases, problems=problems)
