"""Objects that stay in the child, as the grader sees them: :class:`RemoteObject` and the :class:`HandleTable`.

A handle is valid in one child (its generation). After the child is restarted, a handle is re-created by
replaying how it was obtained: a name, an attribute of another handle, or a call. Grader functions passed
to the child (integrands, losses) travel as callbacks, registered here for the duration of the outermost
call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from vicheck.implementation import CallFailed

if TYPE_CHECKING:
    from vicheck.sandbox.isolated import IsolatedImplementation

__all__ = ["HandleTable", "RemoteAttributeError", "RemoteObject"]


class RemoteAttributeError(CallFailed, AttributeError):
    """Reading an attribute of a :class:`RemoteObject` raised ``AttributeError`` in the child."""


class RemoteObject:
    """An object that lives in the child (a function, distribution, transform, ...).

    Calling it calls the object in the child (``remote(x, seed=0)``, same as ``impl.invoke(remote, x)``);
    reading an attribute (``remote.inv``, ``remote.log_prob``) returns the attribute as data or as another
    handle; passing it as an argument hands the child its own object.
    """

    __slots__ = ("__weakref__", "_gen", "_id", "_impl", "_info", "_origin")

    def __init__(self, impl: IsolatedImplementation, info: dict[str, Any], gen: int, origin: tuple[Any, ...]) -> None:
        object.__setattr__(self, "_impl", impl)
        object.__setattr__(self, "_info", info)
        object.__setattr__(self, "_id", info["id"])
        object.__setattr__(self, "_gen", gen)
        object.__setattr__(self, "_origin", origin)

    @property
    def type_name(self) -> str:
        """Qualified name of the object's type in the child (as the child reports it)."""
        return str(self._info["type"])

    @property
    def is_callable(self) -> bool:
        """Whether the child reported the object as callable."""
        return bool(self._info["callable"])

    def _describe_label(self) -> str:
        kind = self._origin[0]
        if kind == "path":
            return str(self._origin[1]) + "".join(f"[{k!r}]" for k in self._origin[2])
        if kind == "attr":
            return f"{self._origin[1]._describe_label()}.{self._origin[2]}"
        return str(self._info["name"] or self._info["repr"][:60] or self._info["type"])

    def __call__(self, *args: Any, seed: int | None = None, **kwargs: Any) -> Any:
        return self._impl.invoke(self, *args, seed=seed, **kwargs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self._impl._attribute(self, name)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("a RemoteObject is read-only")

    def __repr__(self) -> str:
        return f"<RemoteObject {self._describe_label()}: {self._info['repr'][:80] or self.type_name}>"

    def __del__(self) -> None:
        try:
            self._impl._handles.released.append((self._gen, self._id))
        except Exception:  # interpreter shutdown
            pass


class HandleTable:
    """Handles given out (and released) per child generation, and the callbacks of the current call."""

    def __init__(self) -> None:
        self.gen = 0
        self.released: list[tuple[int, int]] = []
        self.callbacks: dict[int, Callable[..., Any]] = {}

    def new_generation(self) -> None:
        """A new child: every earlier handle must be re-created before use."""
        self.gen += 1

    def clear(self) -> None:
        self.released.clear()
        self.callbacks.clear()

    def take_released(self) -> list[int]:
        """Ids the current child may forget (handles of earlier children are gone with them)."""
        ids = [hid for g, hid in self.released if g == self.gen]
        self.released.clear()
        return ids

    def register_callback(self, func: Callable[..., Any]) -> int:
        cbid = len(self.callbacks) + 1
        self.callbacks[cbid] = func
        return cbid

    def make(
        self, impl: IsolatedImplementation, info: dict[str, Any], origin: tuple[Any, ...], path: tuple[Any, ...]
    ) -> RemoteObject:
        """A handle for ``info`` found at ``path`` of a reply to a request made through ``origin``."""
        if not origin or path[0] != "value":  # e.g. the arguments of a callback: not re-creatable
            return RemoteObject(impl, info, self.gen, ("lost",))
        return RemoteObject(impl, info, self.gen, (*origin, path[1:]))

    def is_current(self, remote: RemoteObject) -> bool:
        return bool(remote._gen == self.gen)

    @staticmethod
    def rebind(remote: RemoteObject, fresh: RemoteObject) -> int:
        """Point ``remote`` at ``fresh``'s object in the current child; its id."""
        object.__setattr__(remote, "_id", fresh._id)
        object.__setattr__(remote, "_gen", fresh._gen)
        object.__setattr__(fresh, "_gen", -1)  # its id now belongs to ``remote``
        return int(remote._id)
