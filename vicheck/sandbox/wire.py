"""Requests to the child (pickles: the trusted direction) and replies from it (data only, see ``_codec``)."""

from __future__ import annotations

import functools
import io
import pickle
import types
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.distributions.transforms as _transforms

from vicheck.sandbox import _codec
from vicheck.sandbox._child import BLOCKED
from vicheck.sandbox.handles import RemoteObject
from vicheck.sandbox.process import Died

if TYPE_CHECKING:
    from vicheck.sandbox.isolated import IsolatedImplementation

__all__ = ["Pickler", "decode_reply", "encode_request"]

_NUMPY_DTYPES = frozenset(
    {torch.float16, torch.float32, torch.float64, torch.complex64, torch.complex128, torch.bool}
    | {torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64}
)
_PLAIN_TYPES = frozenset(
    {str, int, float, bool, type(None), tuple, list, dict, bytes, bytearray, torch.Tensor, torch.dtype}
)
_PASS_BY_REFERENCE = ("torch", "numpy", "math", "scipy", "builtins", "operator")


def _is_callback(obj: Any) -> bool:
    """Whether a parent-side object passed to the child travels as a callback (not pickled)."""
    if isinstance(obj, (types.FunctionType, types.MethodType, functools.partial)):
        module = getattr(obj, "__module__", None) or ""
        return module.partition(".")[0] not in _PASS_BY_REFERENCE
    if callable(obj) and not isinstance(obj, type):
        return type(obj).__module__.partition(".")[0] in BLOCKED
    return False


class _TensorBytes:
    """Stand-in while pickling a plain tensor (its data as a numpy array)."""

    __slots__ = ("array",)

    def __init__(self, array: np.ndarray) -> None:
        self.array = array


class _ArrayBytes(_TensorBytes):
    """Stand-in while pickling the flat array under a :class:`_TensorBytes`."""

    __slots__ = ()


def _reduce(obj: Any) -> Any:
    """The reduction of ``obj`` in a request (``NotImplemented``: pickle's own)."""
    if type(obj) is torch.Tensor and obj.dtype in _NUMPY_DTYPES and obj.layout == torch.strided:
        if obj.requires_grad:
            return (torch.Tensor.requires_grad_, (obj.detach(),))
        if obj.device.type == "cpu" and not obj.is_conj() and not obj.is_neg():
            # reshape(from_numpy(frombuffer(bytes))): far faster than torch's own reduction (torch.load)
            return (torch.reshape, (_TensorBytes(obj.numpy()), tuple(obj.shape)))
    if type(obj) is _TensorBytes:
        return (torch.from_numpy, (_ArrayBytes(obj.array),))
    if type(obj) is _ArrayBytes:
        return (np.frombuffer, (bytearray(obj.array.tobytes()), obj.array.dtype.str))
    if type(obj) is _transforms._InverseTransform:
        return (getattr, (obj.inv, "inv"))
    if not isinstance(obj, type) and type(obj).__module__.partition(".")[0] in BLOCKED:
        raise TypeError(f"a {type(obj).__qualname__} (a grader object) cannot be passed to a submission")
    return NotImplemented


class Pickler(pickle.Pickler):
    """Pickles requests: handles by id, grader functions as callbacks, ``_InverseTransform`` rebuilt."""

    def __init__(self, file: io.BytesIO, impl: IsolatedImplementation) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.impl = impl

    def persistent_id(self, obj: Any) -> Any:
        tp = type(obj)
        if tp in _PLAIN_TYPES:
            return None
        if tp is RemoteObject:
            return ("h", self.impl._bind(obj))
        if _is_callback(obj):
            cbid = self.impl._handles.register_callback(obj)
            return ("cb", cbid, str(getattr(obj, "__name__", "callback"))[:100])
        return None

    def reducer_override(self, obj: Any) -> Any:
        return _reduce(obj)


class _HasReferences(Exception):
    """The request holds a handle or a callback: it needs :class:`Pickler`'s persistent ids."""


class _PlainPickler(pickle.Pickler):
    """Pickles a request that holds no handle and no callback (most of them), as :class:`Pickler` would,
    byte for byte, but without ``persistent_id``: pickle calls that hook for every object it meets (about
    95 per request, distributions being pickled whole), while ``reducer_override`` is only called for
    objects that are not plain data or already pickled, which still includes every handle and callback."""

    def __init__(self, file: io.BytesIO) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)

    def reducer_override(self, obj: Any) -> Any:
        if type(obj) is RemoteObject or _is_callback(obj):
            raise _HasReferences
        return _reduce(obj)


def encode_request(message: dict[str, Any], impl: IsolatedImplementation) -> bytes:
    """One framed pickle of ``message``."""
    buf = io.BytesIO()
    try:
        _PlainPickler(buf).dump(message)
    except _HasReferences:
        # nothing was registered or bound yet: start again, with the persistent ids
        buf = io.BytesIO()
        Pickler(buf, impl).dump(message)
    return _codec.frame(b"P", buf.getvalue())


def decode_reply(
    kind: bytes, payload: bytearray, impl: IsolatedImplementation, origin: tuple[Any, ...]
) -> dict[str, Any]:
    """A reply as data, handles made for objects that stay in the child; :class:`Died` if malformed."""
    if kind != b"J":
        raise Died("protocol violation: the child sent a frame that is not data")
    table = impl._handles

    def make_handle(info: dict[str, Any], path: tuple[Any, ...]) -> RemoteObject:
        return table.make(impl, info, origin, path)

    try:
        return _codec.decode_message(payload, make_handle)
    except _codec.ProtocolError as exc:
        raise Died(f"protocol violation: {exc}") from None
