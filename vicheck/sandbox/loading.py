"""How an ``--impl`` spec becomes an :class:`~vicheck.implementation.Implementation`.

* :func:`classify_spec` / :func:`resolve_submission_path` - a module name, or a submission file (a folder
  holding one resolved to it; :func:`check_links` refuses a folder holding a symbolic link out of it);
* :func:`load_implementation` - the reference or a trusted module in this process
  (:class:`InProcessImplementation`), a submission in a jailed child
  (:class:`~vicheck.sandbox.isolated.IsolatedImplementation`) at the level that
  :func:`~vicheck.sandbox.jail.choose_level` picks;
* :func:`notebook_cells` - the one reader of a notebook's code cells (nbformat, v4);
* :func:`load_message` - what the child is sent to load a submission, after the static import scan
  (:func:`scan_blocked_imports`).
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import os
import types
import warnings
from pathlib import Path
from typing import Any

from vicheck.implementation import (
    CallFailed,
    Implementation,
    LoadProblem,
    MissingName,
    SubmissionProblem,
    seed_everything,
)
from vicheck.sandbox._child import BLOCKED, BLOCKED_MESSAGE, Tracer
from vicheck.sandbox.limits import ISOLATION_LEVELS, Limits

__all__ = [
    "InProcessImplementation",
    "OutsideLink",
    "check_links",
    "classify_spec",
    "load_implementation",
    "load_message",
    "load_module_in_process",
    "load_notebook_in_process",
    "notebook_cells",
    "resolve_submission_path",
    "scan_blocked_imports",
]


class InProcessImplementation(Implementation):
    """A module called directly in this process (the reference, or code the user trusts).

    ``trace``: wrap its contract functions in its namespace with the child's
    :class:`~vicheck.sandbox._child.Tracer` (its code ``sources`` read for the data names), so that each call
    records the contract names it reached, as a jailed submission's do. Done for a file
    loaded here (a module of its own), never for an imported module such as the reference package: its
    functions call each other through their submodules' globals, which wrapping the package's namespace
    would not see, and patching a shared module would change it for everyone else in the process."""

    isolation = "none"

    def __init__(
        self,
        module: types.ModuleType,
        label: str | None = None,
        aliases: dict[str, str] | None = None,
        problems: list[LoadProblem] | None = None,
        *,
        trace: bool = False,
        sources: list[str] | None = None,
    ) -> None:
        self.module = module
        self.label = label or module.__name__
        self.aliases = dict(aliases or {})
        self._problems = list(problems or [])
        self._tracer: Tracer | None = None
        if trace and tracing_on():
            from reference.contract import NAMES

            self._tracer = Tracer()
            self._tracer.install(module.__dict__, list(NAMES), self.aliases, list(sources or []))

    def _resolve(self, name: str) -> str:
        return self.aliases.get(name, name)

    def names(self) -> frozenset[str]:
        from reference.contract import NAMES

        return frozenset(n for n in NAMES if hasattr(self.module, self._resolve(n)))

    def get(self, name: str) -> Any:
        head, _, rest = name.partition(".")
        try:
            obj = getattr(self.module, self._resolve(head))
        except AttributeError:
            raise MissingName(head) from None
        for part in rest.split(".") if rest else []:
            obj = getattr(obj, part)
        return obj

    def invoke(self, target: Any, /, *args: Any, seed: int | None = None, **kwargs: Any) -> Any:
        func = self.get(target) if isinstance(target, str) else target
        label = target if isinstance(target, str) else getattr(func, "__qualname__", type(func).__name__)
        if seed is not None:
            seed_everything(seed)
        outer = self._tracer.start() if self._tracer is not None else None
        try:
            return func(*args, **kwargs)
        except SubmissionProblem:
            raise
        except Exception as exc:  # the implementation's own error, reported as data
            raise CallFailed(f"{label}(...)", type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "") from exc
        finally:
            if self._tracer is not None and outer is not None:
                self._note_reached(self._tracer.stop(outer))

    def load_problems(self) -> list[LoadProblem]:
        return list(self._problems)


# ------------------------------------------------------------------------------------------- specs


class OutsideLink(ValueError):
    """A submission folder holds a symbolic link that resolves outside it; ``str()`` names the link."""


def _inside(target: str, root: str) -> bool:
    return target == root or target.startswith(root.rstrip(os.sep) + os.sep)


def link_problem(shown: str, target: str) -> str:
    """The one-line refusal of the link ``shown`` (a path as the instructor sees it) to ``target``."""
    kind = "folder" if os.path.isdir(target) else "file"  # stat only: nothing is opened
    return f"`{shown}` is a symbolic link to a {kind} outside the submission"


def check_links(folder: Path) -> None:
    """:class:`OutsideLink` for the first symbolic link, at any depth of ``folder``, whose target resolves
    outside ``folder`` (a chain is followed to its end; a dangling link is judged by where it points), named
    relative to ``folder``'s parent (``alice/solution.py``).

    Links are read, never followed into: the walk does not descend into linked folders and uses only
    ``lstat``/``readlink`` (``os.path.realpath``), so no file behind a link is opened, not even a FIFO.
    Every link counts, the graded file's and any other's (``data.csv -> /etc/shadow``): the jail copies only
    the graded file today, but a submission is refused as a whole rather than graded with a part of it
    standing outside, and the refusal names the link so that it can be fixed.
    """
    root = os.path.realpath(folder)
    base = Path(os.path.abspath(folder))
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        dirnames.sort()
        for name in sorted([*dirnames, *filenames]):
            entry = os.path.join(dirpath, name)
            if not os.path.islink(entry):
                continue
            target = os.path.realpath(entry)
            if not _inside(target, root):
                shown = Path(base.name, os.path.relpath(entry, base)).as_posix()
                raise OutsideLink(link_problem(shown, target))


def resolve_submission_path(path: Path) -> Path:
    """A ``.py``/``.ipynb`` file, or the single one inside a folder; ``ValueError`` saying why not.

    Symbolic links: ``path`` itself is followed, a file or a folder (whoever named it chose it: ``pytest
    --impl link.py`` grades what the link points to; ``vicheck grade`` refuses a class folder's entries that
    are links before they get here). A folder's contents are not trusted: a link anywhere in it that resolves
    outside it is refused (:func:`check_links`, an :class:`OutsideLink`), one that stays inside is followed
    (``solution.py -> src/lecture.py`` grades ``src/lecture.py``), and two names of one file count as one (the
    name that is not a link is returned).
    """
    if path.is_dir():
        check_links(path)
        found = [p for p in path.iterdir() if p.suffix in (".py", ".ipynb") and not p.name.startswith(".")]
        unique: dict[str, Path] = {}
        for p in sorted(found, key=lambda p: (p.is_symlink(), p.name)):
            unique.setdefault(os.path.realpath(p), p)
        if len(unique) != 1:
            names = ", ".join(sorted(p.name for p in unique.values())) or "none"
            raise ValueError(f"{path}: a submission folder must hold exactly one .py or .ipynb file (found {names})")
        (file,) = unique.values()
        if not file.is_file():  # stat only: a FIFO named solution.py would block whoever opened it
            shown = Path(Path(os.path.abspath(path)).name, file.name).as_posix()
            what = "not a regular file" if file.exists() else "a symbolic link to a file that does not exist"
            raise ValueError(f"`{shown}` is {what}")
        return file
    if not path.exists():
        raise ValueError(f"{path}: no such file or folder")
    if path.suffix not in (".py", ".ipynb"):
        raise ValueError(f"{path}: a submission is a .py file, a .ipynb notebook, or a folder holding one")
    return path


def classify_spec(spec: str) -> tuple[str, Path | None]:
    """``("module", None)`` for an importable module name, ``("file", path)`` for a submission file (a
    folder holding one resolved to it); ``ValueError`` with a one-line reason otherwise."""
    path = Path(spec)
    if path.suffix in (".py", ".ipynb") or "/" in spec or "\\" in spec:
        return "file", resolve_submission_path(path)
    if all(part.isidentifier() for part in spec.split(".")):
        try:
            if importlib.util.find_spec(spec) is not None:
                return "module", None
        except (ImportError, ValueError):
            pass
    if path.exists():
        return "file", resolve_submission_path(path)
    raise ValueError("not a file, folder or importable module")


def load_implementation(
    spec: str,
    *,
    isolation: str = "auto",
    limits: Limits | None = None,
    aliases: dict[str, str] | None = None,
    resources: str = "auto",
) -> Implementation:
    """An implementation from ``--impl``: ``"reference"``, an importable module name, or a path.

    ``isolation`` is ``"auto"`` (a path runs in a child under the strongest level available, a module name
    in this process), a level of :mod:`vicheck.sandbox.jail` (``namespaces``, ``uid``, ``process``), or
    ``"none"`` (this process). ``ValueError`` with a one-line reason when the spec names nothing loadable;
    :class:`~vicheck.sandbox.jail.IsolationUnavailable` when the level cannot be had here or is weaker than
    ``limits.isolation`` requires. ``resources`` is ``"auto"`` or a level of :mod:`vicheck.sandbox.resources`
    (``cgroup2``, ``cgroup1``, ``rlimits``) for a submission run in a child;
    :class:`~vicheck.sandbox.resources.ResourcesUnavailable` when it cannot be had or is weaker than
    ``limits.resources``.
    """
    from vicheck.sandbox.jail import choose_level
    from vicheck.sandbox.resources import choose_resources

    limits = limits or Limits()
    aliases = dict(aliases or {})
    if isolation not in ("auto", *ISOLATION_LEVELS):
        raise ValueError(f"isolation must be auto, namespaces, uid, process or none, got {isolation!r}")
    kind, file = classify_spec(spec)
    if kind == "module":
        if isolation not in ("auto", "none"):
            raise ValueError(f"--impl {spec}: isolation {isolation} needs a file or folder, not a module name")
        try:
            module = importlib.import_module(spec)
        except ImportError as exc:
            raise ValueError(f"--impl {spec}: cannot import it ({exc})") from None
        return InProcessImplementation(module, label=spec, aliases=aliases)
    assert file is not None
    level = choose_level(isolation, limits.isolation)
    if level == "none":
        if file.suffix == ".ipynb":
            return load_notebook_in_process(file, aliases=aliases)
        module, problems = load_module_in_process(file)
        source = file.read_text(encoding="utf-8", errors="replace")
        return InProcessImplementation(
            module, label=str(file), aliases=aliases, problems=problems, trace=True, sources=[source]
        )
    from vicheck.sandbox.isolated import IsolatedImplementation

    control = choose_resources(resources, limits.resources)
    return IsolatedImplementation(file, limits=limits, aliases=aliases, isolation=level, resources=control)


# ------------------------------------------------------------------------------------------- in process


def load_module_in_process(path: Path) -> tuple[types.ModuleType, list[LoadProblem]]:
    """Execute a trusted .py file as a module, keeping what it defined before any error."""
    module = types.ModuleType(f"vicheck_submission_{abs(hash(str(path)))}")
    module.__file__ = str(path)
    problems: list[LoadProblem] = []
    source = path.read_text(encoding="utf-8")
    try:
        code = compile(source, str(path), "exec")
        exec(code, module.__dict__)
    except Exception as exc:
        tb = exc.__traceback__
        line = 0
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == str(path):
                line = tb.tb_lineno
            tb = tb.tb_next
        if isinstance(exc, SyntaxError):
            line = exc.lineno or 0
        lines = source.splitlines()
        src = lines[line - 1] if 0 < line <= len(lines) else ""
        problems.append(LoadProblem(f"line {line}", type(exc).__name__, str(exc), src))
    return module, problems


def notebook_cells(path: Path) -> list[tuple[int, str]]:
    """``(index, source)`` of every code cell of the notebook at ``path`` (read with nbformat, v4)."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    return [(i, str(cell.source)) for i, cell in enumerate(nb.cells) if cell.cell_type == "code"]


def load_notebook_in_process(path: Path, aliases: dict[str, str] | None = None) -> InProcessImplementation:
    """Run the notebook's code cells in a fresh module namespace in this process, as Jupyter would."""
    from vicheck.sandbox._cells import run_cells

    path = Path(path)
    try:
        import matplotlib

        matplotlib.use("Agg")
    except ImportError:  # pragma: no cover - matplotlib is optional
        pass
    module = types.ModuleType(f"vicheck_notebook_{abs(hash(str(path)))}")
    module.__file__ = str(path)
    cells = notebook_cells(path)
    problems = [LoadProblem(*p) for p in run_cells(cells, module.__dict__)]
    sources = [text for _, text in cells]
    return InProcessImplementation(
        module, label=str(path), aliases=aliases, problems=problems, trace=True, sources=sources
    )


# ------------------------------------------------------------------------------------------- for the child


def scan_blocked_imports(source: str) -> list[tuple[int, str]]:
    """``(line, source line)`` of each import of a grader package (also ``__import__``/``import_module``)."""
    try:
        with warnings.catch_warnings():  # e.g. invalid escape sequences in the submission's strings
            warnings.simplefilter("ignore")
            tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    lines = source.splitlines()
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            fname = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if fname in ("__import__", "import_module") and isinstance(node.args[0].value, str):
                names = [node.args[0].value]
        if any(n.partition(".")[0] in BLOCKED for n in names):
            line = getattr(node, "lineno", 0)
            found.append((line, lines[line - 1].strip() if 0 < line <= len(lines) else ""))
    return sorted(set(found))


def load_message(
    path: Path, filename: str, aliases: dict[str, str]
) -> tuple[dict[str, Any], list[LoadProblem], str | None]:
    """``(message, problems, broken)``: the child's load request for the submission at ``path`` (seen by
    the child as ``filename``), the problems the static scan found, and why it cannot load at all (or None)."""
    from reference.contract import NAMES

    problems: list[LoadProblem] = []
    broken: str | None = None
    cells: list[tuple[int, str]] | None = None
    source = ""
    sources: list[tuple[str, str]] = []
    if path.suffix == ".ipynb":
        try:
            cells = notebook_cells(path)
        except Exception as exc:
            broken = f"the notebook could not be read ({type(exc).__name__})"
            problems.append(LoadProblem("notebook", type(exc).__name__, str(exc).splitlines()[0][:300]))
            cells = []
        from vicheck.sandbox._cells import clean_source_for_scan

        for index, text in cells:
            sources.append((f"cell {index}", clean_source_for_scan(text)))
    else:
        source = path.read_text(encoding="utf-8", errors="replace")
        sources.append(("", source))
    for where, text in sources:
        for line, src in scan_blocked_imports(text):
            problems.append(LoadProblem(where or f"line {line}", "ImportError", BLOCKED_MESSAGE, src))
    message = {
        "op": "load",
        "filename": filename,
        "source": source,
        "cells": cells,
        "names": list(NAMES),
        "aliases": dict(aliases),
        "trace": tracing_on(),
    }
    return message, problems, broken


def tracing_on() -> bool:
    """Whether calls are traced (which contract functions each call reached, for the report's diagnosis):
    on unless ``VICHECK_TRACE=0`` (for measuring what tracing costs, ``benchmarks/trace_cost.py``)."""
    return os.environ.get("VICHECK_TRACE", "1").strip() != "0"
