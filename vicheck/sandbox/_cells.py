"""Running a notebook's code cells as Jupyter runs them: IPython's own shell, without a kernel.

This file imports only the standard library at module level (IPython when a function needs it), because
the child process loads it by path (it cannot import ``vicheck``); the grader imports it as
``vicheck.sandbox._cells``.

:func:`run_cells` runs the cells one by one in one namespace through an
:class:`IPython.core.interactiveshell.InteractiveShell` whose user namespace is that namespace, so IPython
syntax means what it means in Jupyter: ``%time``, ``%%time``, ``x?``, ``get_ipython()``, ``display()``,
the value of a cell's last expression shown (printed to stdout; tracebacks, plain, go to stderr). No
history database, profile folder, log file or colour is made, and the process is left as it was (no
IPython instance, builtins or ``sys.ps1`` left behind, nothing registered with ``atexit``). A cell that
raises is recorded as ``("cell N", exception type, first line of the message, first non-empty source
line)`` and the next cell runs; that includes ``SystemExit`` and ``KeyboardInterrupt``, and an error that
a magic caught and showed as a traceback itself (in a ``%%capture`` cell).

Magics, the grader's policy (it is about notebook syntax; the sandbox around the child is the security
boundary, since code can call ``os.system`` itself):

* run: a magic that touches only the kernel's own Python state or what it displays:
  :data:`LINE_MAGICS` and :data:`CELL_MAGICS`. ``%matplotlib``/``%pylab`` with any backend name select
  Agg (no GUI); ``%timeit``/``%%timeit`` run the statement once (``-n1 -r1``) to keep loading bounded;
  ``%env`` only reads. ``%%html``, ``%%javascript``, ``%%latex``, ``%%markdown``, ``%%svg`` only display,
  so they run (their output is printed as text); ``%%capture`` runs (its errors are still recorded).
* refused: every other magic IPython or an extension knows (and ``%store``, which kernels load): shell
  escapes (``!cmd``, ``x = !cmd``, ``!!cmd``, ``%sx``, ``%system``, ``%pip``, ``%conda``, the ``%%bash``
  family, shell aliases such as ``%ls``) as ``ShellEscapeRefused``, the others (``%run``, ``%load``,
  ``%cd``, ``%%writefile``, ``%env`` assignments, ``%store``, ``%edit``, ``%save``, ``%logstart``,
  ``%history``, ``%debug``, ...) as ``MagicRefused``. A refused magic or escape does nothing (an escape's
  output is an empty list), is recorded as a problem of its cell with the line that holds it, and the rest
  of the cell runs: a ``!pip install`` does not cost the functions defined after it. Called later (from a
  function, after loading) it is only a no-op. A magic nobody registered is IPython's ``UsageError``.

:func:`clean_source_for_scan` gives the Python a cell becomes (IPython's own transformation), plus the
Python that ``%time``/``%timeit``/``%%capture`` run from strings, for the parent's static import scan.
"""

from __future__ import annotations

import ast
import atexit
import contextlib
import os
import sys
import traceback
import warnings
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["CELL_MAGICS", "LINE_MAGICS", "clean_source_for_scan", "exc_message", "first_line", "run_cells"]

Problem = tuple[str, str, str, str]  # where, exc type, message, source line

#: line magics that run (everything else IPython or an extension knows is refused)
LINE_MAGICS = frozenset(
    {"matplotlib", "pylab", "time", "timeit", "load_ext", "reload_ext", "unload_ext", "autoreload", "aimport"}
    | {"config", "precision", "pprint", "xmode", "who", "who_ls", "whos", "xdel", "reset", "reset_selective"}
    | {"pwd", "env", "lsmagic", "pinfo", "pinfo2", "pdef", "pdoc", "psource", "psearch"}
)
#: cell magics that run
CELL_MAGICS = frozenset(
    {"time", "timeit", "capture", "html", "HTML", "javascript", "js", "svg", "SVG", "latex", "markdown"}
)
# refused as shell escapes (with IPython's shell aliases, recognised by their type): they run programs
_SHELL = {
    "line": frozenset({"sx", "system", "pip", "conda", "mamba", "micromamba", "uv", "sc", "rehashx", "killbgscripts"}),
    "cell": frozenset(
        {"!", "sx", "system", "bash", "sh", "script", "perl", "ruby", "python", "python2", "python3", "pypy"}
    ),
}
# magics a Jupyter kernel knows that a bare shell has not registered (storemagic is loaded by kernels)
_KNOWN_ELSEWHERE = frozenset({"store"})
_MAX_REFUSALS = 20  # distinct ones recorded per cell: a loop of escapes is not a thousand problems
_TIMEIT_OPTIONS = "n:r:tcp:qov:"


def first_line(text: str) -> str:
    """The first non-empty line of ``text`` (at most 300 characters)."""
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:300]
    return ""


def exc_message(exc: BaseException) -> str:
    """First line of ``str(exc)``, never raising (a hostile ``__str__`` gives a placeholder)."""
    try:
        return first_line(str(exc))
    except BaseException:
        return "<message could not be read>"


def _line_with(source: str, *needles: str) -> str:
    """The first line of ``source`` holding one of ``needles`` (tried in order), else its first line."""
    lines = [ln.strip() for ln in source.splitlines() if ln.strip()]
    for needle in needles:
        if needle:
            for line in lines:
                if needle in line:
                    return line[:300]
    return first_line(source)


def _use_agg() -> None:
    """Agg for matplotlib (no GUI, ``plt.show()`` harmless), now or when it is first imported."""
    if "matplotlib" not in sys.modules:
        os.environ["MPLBACKEND"] = "Agg"
        return
    try:
        sys.modules["matplotlib"].use("Agg")
    except Exception:
        pass


def _close_figures() -> None:
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        try:
            plt.close("all")
        except Exception:
            pass


# ---------------------------------------------------------------------------------------- the executor


class _Run:
    """What the shell reports while one cell runs: refused escapes and magics, errors it showed."""

    def __init__(self) -> None:
        self.index: int | None = None
        self.source = ""
        self.refused: list[Problem] = []
        self.shown: list[BaseException] = []

    def begin(self, index: int, source: str) -> None:
        self.index, self.source, self.refused, self.shown = index, source, [], []

    def end(self) -> None:
        self.index = None

    def refuse(self, kind: str, text: str, *needles: str) -> None:
        message = ("shell escapes are" if kind == "ShellEscapeRefused" else "this magic is") + " not run by the grader"
        text = first_line(text)
        if self.index is None:  # called after loading (from a function): a no-op, said in the log
            _write_stderr(f"{message}: {text}\n")
            return
        problem = (f"cell {self.index}", kind, f"{message}: {text}", _line_with(self.source, text, *needles))
        if len(self.refused) < _MAX_REFUSALS and problem not in self.refused:
            self.refused.append(problem)

    def show(self, exc: BaseException | None) -> None:
        if exc is not None and self.index is not None and not self.shown:
            self.shown.append(exc)  # the first is the cell's error


def _write_stderr(text: str) -> None:
    try:
        sys.stderr.write(text)
    except BaseException:  # a cell may have replaced sys.stderr with anything
        pass


_SHELL_CLASS: Any = None


def _shell_class() -> Any:
    """The grader's :class:`InteractiveShell` subclass (built once, IPython imported here)."""
    global _SHELL_CLASS
    if _SHELL_CLASS is not None:
        return _SHELL_CLASS
    from IPython.core.builtin_trap import BuiltinTrap
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.core.magic import MAGIC_NO_VAR_EXPAND_ATTR
    from IPython.utils.text import LSString, SList

    class GraderShell(InteractiveShell):
        """A shell that writes no files, leaves the process's globals alone and refuses shell escapes."""

        run_state: _Run = _Run()

        # -- nothing on disk (no ~/.ipython, no profile), nothing global changed
        def init_ipython_dir(self, ipython_dir: Any) -> None:
            pass

        def init_profile_dir(self, profile_dir: Any) -> None:
            pass

        def init_virtualenv(self) -> None:  # would add a virtualenv's site-packages to sys.path
            pass

        def init_sys_modules(self) -> None:  # the caller owns its module (sys.modules is not touched)
            pass

        def init_prompts(self) -> None:  # sys.ps1 would tell libraries that Python is interactive
            pass

        def init_builtins(self) -> None:  # no `display`/`__IPYTHON__` in builtins: the namespace has them
            self.builtin_trap = BuiltinTrap(shell=self)

        def _tee(self, channel: str) -> Any:  # would keep every line printed, for a history we don't have
            return contextlib.nullcontext()

        # -- errors: recorded for the cell, written plainly (no colours, no source inspection)
        def showtraceback(self, exc_tuple: Any = None, *args: Any, **kwargs: Any) -> None:
            exc = exc_tuple[1] if exc_tuple is not None else sys.exc_info()[1]
            self.run_state.show(exc)
            if exc is None:
                return
            tb = exc.__traceback__
            while tb is not None and not tb.tb_frame.f_code.co_filename.startswith("<cell "):
                tb = tb.tb_next  # IPython's own frames say nothing about the cell
            try:
                text = "".join(traceback.format_exception(type(exc), exc, tb or exc.__traceback__))[-4000:]
            except BaseException:
                text = f"{type(exc).__name__}: {exc_message(exc)}\n"
            _write_stderr(text)

        def showsyntaxerror(self, *args: Any, **kwargs: Any) -> None:
            self.showtraceback()

        # -- shell escapes
        def system(self, cmd: Any, *args: Any, **kwargs: Any) -> None:
            self.run_state.refuse("ShellEscapeRefused", f"!{cmd}", str(cmd).strip())

        system_piped = system_raw = system

        def getoutput(self, cmd: Any, split: bool = True, depth: int = 0) -> Any:
            self.run_state.refuse("ShellEscapeRefused", f"!{cmd}", str(cmd).strip())
            return SList() if split else LSString("")

        # -- matplotlib: Agg whatever the backend asked for
        def enable_matplotlib(self, gui: Any = None) -> tuple[Any, str]:
            try:
                import matplotlib

                matplotlib.use("Agg")
            except ImportError:  # %matplotlib without matplotlib: nothing to select
                pass
            return None, "agg"

        # -- magics: every lookup goes through the allow-list
        def _find_with_lazy_load(self, type_: str, magic_name: str) -> Any:
            return self._guarded_magic(type_, magic_name)

        def find_line_magic(self, magic_name: str) -> Any:
            return self._guarded_magic("line", magic_name)

        def find_cell_magic(self, magic_name: str) -> Any:
            return self._guarded_magic("cell", magic_name)

        def find_magic(self, magic_name: str, magic_kind: str = "line") -> Any:
            return self._guarded_magic(magic_kind, magic_name)

        def _registered_magic(self, kind: str, name: str) -> Any:
            manager = self.magics_manager
            find = getattr(manager, "find", None)  # IPython 9 loads lazily declared magics there
            return find(kind, name) if find is not None else manager.magics[kind].get(name)

        def _guarded_magic(self, kind: str, name: str) -> Any:
            allowed = LINE_MAGICS if kind == "line" else CELL_MAGICS
            if name in allowed:
                fn = self._registered_magic(kind, name)
                if fn is not None and name == "timeit":
                    return self._timeit_once(fn)
                if fn is not None and name == "env":
                    return self._env_read_only(fn)
                return fn
            table = self.magics_manager.magics.get(kind, {})
            known = name in table or name in getattr(self.magics_manager, "lazy_magics", {})
            if not (known or name in _KNOWN_ELSEWHERE or name in _SHELL.get(kind, ())):
                return None  # IPython's UsageError; and a bare name stays Python for automagic
            shell_like = name in _SHELL.get(kind, ()) or type(table.get(name)).__name__ == "Alias"
            return self._refusal("ShellEscapeRefused" if shell_like else "MagicRefused", kind, name)

        def _refusal(self, kind: str, magic_kind: str, name: str) -> Callable[..., None]:
            prefix = "%" if magic_kind == "line" else "%%"
            state = self.run_state

            def refused(line: str = "", cell: Any = None, local_ns: Any = None) -> None:
                state.refuse(kind, f"{prefix}{name} {line}".strip(), f"{prefix}{name} ", f"{prefix}{name}", name)

            setattr(refused, MAGIC_NO_VAR_EXPAND_ATTR, True)  # the line as written, nothing evaluated
            return refused

        def _timeit_once(self, timeit: Any) -> Callable[..., Any]:
            magics = timeit.__self__

            def timeit_once(line: str = "", cell: Any = None, local_ns: Any = None) -> Any:
                opts, stmt = magics.parse_options(
                    line, _TIMEIT_OPTIONS, posix=False, strict=False, preserve_non_opts=True
                )
                kept = [f"-{o}" for o in "qo" if o in opts] + ([f"-v {opts['v']}"] if "v" in opts else [])
                return timeit(" ".join(["-n1", "-r1", *kept, stmt]), cell, local_ns=local_ns)

            timeit_once.needs_local_scope = True  # type: ignore[attr-defined]
            setattr(timeit_once, MAGIC_NO_VAR_EXPAND_ATTR, True)
            return timeit_once

        def _env_read_only(self, env: Any) -> Callable[..., Any]:
            def env_read_only(line: str = "") -> Any:
                if "=" in line or len(line.split()) > 1:
                    self.run_state.refuse("MagicRefused", f"%env {line}", "%env")
                    return None
                return env(line)

            return env_read_only

    _SHELL_CLASS = GraderShell
    return GraderShell


def _page_as_text(shell: Any, data: Any, *args: Any, **kwargs: Any) -> None:
    """The ``show_in_pager`` hook: help (``x?``) printed, never a pager program."""
    print(data.get("text/plain", "") if isinstance(data, dict) else data)


@contextlib.contextmanager
def _shell(namespace: dict[str, Any], keep: bool) -> Iterator[Any]:
    """A grader shell on ``namespace``, the process's IPython instance while it runs (``keep``: after too)."""
    from IPython.core.display_functions import display
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    config = Config()
    config.HistoryManager.enabled = False
    config.HistoryManager.hist_file = ":memory:"
    shell = _shell_class()(user_ns=namespace, config=config, colors="nocolor", cache_size=0)
    shell.run_state = _Run()
    atexit.unregister(shell.atexit_operations)  # it would keep the namespace alive until exit
    shell.display_formatter.active_types = ["text/plain"]
    shell.set_hook("show_in_pager", _page_as_text)
    namespace.setdefault("display", display)
    shell.user_ns_hidden["display"] = display
    previous = InteractiveShell._instance
    InteractiveShell._instance = shell  # get_ipython(), display() and the pager find this shell
    try:
        yield shell
    finally:
        if not keep:
            InteractiveShell._instance = previous
        script_magics = shell.magics_manager.registry.get("ScriptMagics")
        if script_magics is not None:  # its exit hook kills background scripts, which are refused
            atexit.unregister(script_magics.kill_bg_processes)


def _cell_name(state: _Run) -> Callable[..., str]:
    """File names ``<cell N>`` in tracebacks and syntax errors, as the lecture's cells are numbered."""
    return lambda *args, **kwargs: f"<cell {state.index}>"


def run_cells(cells: list[tuple[int, str]], namespace: dict[str, Any], *, keep_shell: bool = False) -> list[Problem]:
    """Run notebook code cells ``(index, source)`` one by one in ``namespace`` (a module's ``__dict__``)
    as Jupyter does; return the problems: ``("cell N", exc type, message, source line)`` for each cell that
    raised and each refused magic or shell escape, in order.

    ``keep_shell`` leaves the shell as the process's IPython instance afterwards (for the child, where the
    submission's functions may call ``IPython.get_ipython()`` or ``display`` when graded); otherwise the
    previous instance (normally none) is restored.
    """
    todo = [(i, s) for i, s in cells if s.strip()]
    if not todo:
        return []
    _use_agg()
    session = contextlib.ExitStack()
    try:
        shell = session.enter_context(_shell(namespace, keep_shell))
    except Exception as exc:  # IPython missing or broken: run the cells without magics, and say so
        return _run_plain(todo, namespace, f"{type(exc).__name__}: {exc_message(exc)}")
    problems: list[Problem] = []
    state: _Run = shell.run_state
    with session:
        with contextlib.suppress(Exception):
            shell.compile.get_code_name = _cell_name(state)
        display = namespace.get("display")
        for index, source in todo:
            state.begin(index, source)
            error: BaseException | None = None
            try:
                result = shell.run_cell(source, store_history=False, silent=False)
                error = result.error_before_exec or result.error_in_exec
            except BaseException as exc:  # run_cell lets a few through (a hook, a hostile repr)
                error = exc
            if error is None and state.shown:
                error = state.shown[0]  # caught and shown by a magic (%%capture)
            state.end()
            problems.extend(state.refused)
            if error is not None:
                problems.append((f"cell {index}", type(error).__name__, exc_message(error), first_line(source)))
            _close_figures()
            if display is not None:
                namespace.setdefault("display", display)  # %reset clears it; Jupyter's is a builtin
    return problems


def _strip_magics(source: str) -> str:
    """Without IPython: ``""`` for a ``%%`` cell, otherwise ``%``/``!`` lines as ``pass`` (same indent)."""
    lines = source.splitlines()
    stripped = [ln.lstrip() for ln in lines]
    if next((s for s in stripped if s), "").startswith("%%"):
        return ""
    return "\n".join(
        ln[: len(ln) - len(s)] + "pass" if s.startswith(("%", "!")) else ln
        for ln, s in zip(lines, stripped, strict=True)
    )


def _run_plain(cells: list[tuple[int, str]], namespace: dict[str, Any], why: str) -> list[Problem]:
    problems: list[Problem] = [("notebook", "ImportError", f"IPython could not start ({why}); magics skipped", "")]
    for index, source in cells:
        try:
            exec(compile(_strip_magics(source), f"<cell {index}>", "exec"), namespace)
        except BaseException as exc:
            problems.append((f"cell {index}", type(exc).__name__, exc_message(exc), first_line(source)))
        _close_figures()
    return problems


# --------------------------------------------------------------------------------------- the static scan


def _timeit_statement(line: str) -> str:
    """``%timeit``'s statement without its leading options (``-n 10 -r3 -o f(x)`` gives ``f(x)``)."""
    words = line.split(" ")
    i = 0
    while i < len(words):
        word = words[i]
        if not word:
            i += 1
        elif word.startswith("-") and len(word) > 1 and word[1] in "nrtcpqov":
            i += 2 if word[1] in "nrpv" and len(word) == 2 else 1
        else:
            break
    return " ".join(words[i:])


def _python_in_magics(tree: ast.AST) -> list[str]:
    """Python that the allowed magics run from strings: ``%time``/``%timeit`` statements, ``%%time``/
    ``%%timeit``/``%%capture`` bodies, and ``%load_ext``/``%reload_ext`` as imports."""
    found: list[str] = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        args = [a.value if isinstance(a, ast.Constant) and isinstance(a.value, str) else None for a in node.args]
        if not args or args[0] is None:
            continue
        name, rest = args[0], args[1:]
        if node.func.attr == "run_line_magic" and rest and rest[0] is not None:
            if name == "time":
                found.append(rest[0].removeprefix("--no-raise-error").strip())
            elif name == "timeit":
                found.append(_timeit_statement(rest[0]))
            elif name in ("load_ext", "reload_ext") and rest[0].split():
                found.append(f"import {rest[0].split()[0]}")
        elif node.func.attr == "run_cell_magic" and len(rest) == 2 and rest[1] is not None:
            if name in ("time", "timeit", "capture"):
                found.append(rest[1])
            if name == "timeit" and rest[0]:
                found.append(_timeit_statement(rest[0]))
    return found


def _parses(code: str) -> ast.AST | None:
    try:
        with warnings.catch_warnings():  # e.g. invalid escape sequences in the cell's strings
            warnings.simplefilter("ignore")
            return ast.parse(code)
    except (SyntaxError, ValueError):
        return None


def clean_source_for_scan(source: str) -> str:
    """The Python a cell runs, for the static import scan only: IPython syntax transformed as the shell
    transforms it (``%time x`` becomes ``get_ipython().run_line_magic('time', 'x')``), followed by the
    Python that allowed magics run from those strings. Without IPython, magics become ``pass``."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        transform: Callable[[str], str] = TransformerManager().transform_cell
    except Exception:
        transform = _strip_magics
    pieces: list[str] = []
    todo = [source]
    while todo and len(pieces) < 50:  # magics nested in magics' strings, each transformed again
        text = todo.pop(0)
        try:
            code = transform(text)
        except Exception:
            code = _strip_magics(text)
        tree = _parses(code)
        if tree is None:
            if not pieces:
                return code  # the cell does not parse: nothing to scan, and nothing of it runs either
            continue
        pieces.append(code.rstrip("\n"))
        todo.extend(_python_in_magics(tree))
    return "\n".join(pieces) + "\n"
