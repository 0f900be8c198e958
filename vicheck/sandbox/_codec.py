"""Wire format between the grader and the child process running a submission.

Frames: one kind byte, an 8-byte big-endian length, the payload.

* ``P`` (parent -> child, the trusted direction): a pickle.
* ``J`` (child -> parent): a data-only message, ``u32 json length | JSON | raw byte blobs``. The JSON is an
  object with an ``"op"`` and a ``"blobs"`` list of blob lengths. Values inside it use JSON natives for
  ``None``/``bool``/``int``/finite ``float``/``str``/``list`` and tagged objects (key ``"$"``) for the rest:
  ``t`` tuple, ``d`` dict with str keys, ``f`` non-finite float, ``c`` complex, ``T`` tensor (dtype, shape,
  blob index), ``B`` bytes, ``D`` torch dtype, ``h`` a handle to an object that stays in the child.

The parent never unpickles what the child sends: :func:`decode_message` parses JSON and rebuilds fresh
tensors from raw bytes after checking dtypes, shapes and byte counts. This module imports only the
standard library, torch and numpy, so the child (which cannot import ``vicheck``) loads it by path.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

__all__ = [
    "DTYPES",
    "MAX_DEPTH",
    "MAX_MESSAGE_BYTES",
    "MAX_NODES",
    "ProtocolError",
    "decode_message",
    "encode_message",
    "frame",
]

HEADER = struct.Struct(">cQ")
JSON_LEN = struct.Struct(">I")
MAX_MESSAGE_BYTES = 512 * 2**20
MAX_DEPTH = 48
MAX_NODES = 2_000_000
MAX_CONTAINER = 200_000
MAX_STR = 16 * 2**20

#: Tensor dtypes that travel as data, by wire name.
DTYPES: dict[str, torch.dtype] = {
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
    "float64": torch.float64,
    "complex64": torch.complex64,
    "complex128": torch.complex128,
    "uint8": torch.uint8,
    "int8": torch.int8,
    "int16": torch.int16,
    "int32": torch.int32,
    "int64": torch.int64,
    "bool": torch.bool,
}
_DTYPE_NAMES = {v: k for k, v in DTYPES.items()}
_ITEMSIZE = {k: torch.empty((), dtype=v).element_size() for k, v in DTYPES.items()}
_FAST = frozenset(DTYPES.values()) - {torch.bfloat16, torch.bool}
_NP_WIDEN = {np.dtype("uint16"): np.int64, np.dtype("uint32"): np.int64}


class ProtocolError(Exception):
    """A message from the child is malformed or breaks a limit."""


def frame(kind: bytes, payload: bytes) -> bytes:
    """``payload`` with its frame header."""
    return HEADER.pack(kind, len(payload)) + payload


# ----------------------------------------------------------------------------------------------- encoding
# (runs in the child, on objects the submission made)

Registrar = Callable[[Any], dict[str, Any]]


def _float(x: float) -> Any:
    if math.isfinite(x):
        return x
    return {"$": "f", "v": "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")}


def _tensor_bytes(obj: torch.Tensor) -> tuple[str, list[int], Any] | None:
    """(dtype name, shape, contiguous bytes) of a strided CPU tensor (any subclass), or None."""
    if type(obj) is torch.Tensor and obj.dtype in _FAST and obj.layout == torch.strided and obj.device.type == "cpu":
        t = obj.detach().resolve_conj().resolve_neg().contiguous()
        return _DTYPE_NAMES[t.dtype], list(t.shape), t.numpy().reshape(-1).view(np.uint8)
    with torch._C.DisableTorchFunctionSubclass():
        t = torch.Tensor.detach(obj)
        if t.layout != torch.strided or t.is_quantized or t.is_nested or t.device.type == "meta":
            return None
        if t.dtype not in _DTYPE_NAMES:
            return None
        t = t.cpu().resolve_conj().resolve_neg().contiguous()
        shape = list(t.shape)
        if t.numel() == 0:
            return _DTYPE_NAMES[t.dtype], shape, b""
        if t.dtype == torch.bool:
            t = t.to(torch.uint8)
        data = t.reshape(-1).view(torch.uint8).numpy()
    return _DTYPE_NAMES[obj.dtype], shape, data


def _encode(obj: Any, blobs: list[Any], handle: Registrar, depth: int) -> Any:
    tp = type(obj)
    if obj is None or tp is bool or tp is str:
        return obj
    if tp is int:
        return obj if obj.bit_length() < 10_000 else handle(obj)
    if tp is float:
        return _float(obj)
    if depth >= MAX_DEPTH:
        return handle(obj)
    if isinstance(obj, torch.Tensor):
        got = _tensor_bytes(obj)
        if got is None:
            return handle(obj)
        blobs.append(got[2])
        return {"$": "T", "d": got[0], "s": got[1], "b": len(blobs) - 1}
    if isinstance(obj, np.ndarray):
        if obj.dtype in _NP_WIDEN:
            obj = obj.astype(_NP_WIDEN[obj.dtype])
        try:
            t = torch.from_numpy(np.ascontiguousarray(obj))
        except (TypeError, ValueError, RuntimeError):
            return handle(obj)
        return _encode(t, blobs, handle, depth)
    if isinstance(obj, np.generic):
        if isinstance(obj, np.bool_):
            return bool(obj)
        if isinstance(obj, np.integer):
            return int(obj)
        if isinstance(obj, np.floating):
            return _float(float(obj))
        if isinstance(obj, np.complexfloating):
            return _encode(complex(obj), blobs, handle, depth)
        return handle(obj)
    if isinstance(obj, bool):  # cannot happen (bool is final), kept for clarity
        return bool(obj)
    if isinstance(obj, float):  # float subclasses: their raw value
        return _float(float.__float__(obj))
    if isinstance(obj, int):
        value = int.__int__(obj)
        return value if value.bit_length() < 10_000 else handle(obj)
    if isinstance(obj, str):
        return str.__str__(obj)
    if isinstance(obj, complex):
        z = complex.__complex__(obj) if tp is not complex else obj
        return {"$": "c", "v": [_float(z.real), _float(z.imag)]}
    if isinstance(obj, (bytes, bytearray)):
        blobs.append(bytes(obj))
        return {"$": "B", "b": len(blobs) - 1}
    if isinstance(obj, torch.dtype):
        return {"$": "D", "v": _DTYPE_NAMES[obj]} if obj in _DTYPE_NAMES else handle(obj)
    if isinstance(obj, (list, tuple)):
        n = list.__len__(obj) if isinstance(obj, list) else tuple.__len__(obj)
        if n > MAX_CONTAINER:
            return handle(obj)
        items = list.__iter__(obj) if isinstance(obj, list) else tuple.__iter__(obj)
        out = [_encode(x, blobs, handle, depth + 1) for x in items]
        return out if isinstance(obj, list) else {"$": "t", "v": out}
    if isinstance(obj, dict):
        keys = list(dict.keys(obj))
        if len(keys) > MAX_CONTAINER or not all(isinstance(k, str) for k in keys):
            return handle(obj)
        return {"$": "d", "v": {str.__str__(k): _encode(v, blobs, handle, depth + 1) for k, v in dict.items(obj)}}
    return handle(obj)


def encode_message(message: dict[str, Any], values: dict[str, Any], handle: Registrar) -> bytes:
    """A ``J`` frame: ``message`` (JSON-ready fields) plus ``values`` encoded as data or handles."""
    blobs: list[Any] = []
    body = dict(message)
    for key, value in values.items():
        body[key] = _encode(value, blobs, handle, 0)
    body["blobs"] = [memoryview(b).nbytes for b in blobs]
    head = json.dumps(body, allow_nan=False, separators=(",", ":")).encode()
    return frame(b"J", b"".join([JSON_LEN.pack(len(head)), head, *blobs]))


# ----------------------------------------------------------------------------------------------- decoding
# (runs in the parent, on bytes it must not trust)

HandleFactory = Callable[[dict[str, Any], tuple[Any, ...]], Any]


def _reject_constant(name: str) -> Any:
    raise ProtocolError(f"non-JSON constant {name} in a message")


class _Decoder:
    def __init__(self, payload: bytearray, offsets: list[tuple[int, int]], make_handle: HandleFactory) -> None:
        self.payload, self.offsets, self.make_handle = payload, offsets, make_handle
        self.nodes = 0

    def blob(self, index: Any) -> tuple[int, int]:
        if type(index) is not int or not 0 <= index < len(self.offsets):
            raise ProtocolError("bad blob index")
        return self.offsets[index]

    def float_(self, v: Any) -> float:
        if type(v) is float or type(v) is int:
            return float(v)
        if type(v) is dict and v.get("$") == "f" and v.get("v") in ("nan", "inf", "-inf"):
            return float(v["v"])
        raise ProtocolError("bad float")

    def tensor(self, v: dict[str, Any]) -> torch.Tensor:
        dtype = DTYPES.get(v.get("d"))  # type: ignore[arg-type]
        shape = v.get("s")
        if dtype is None or type(shape) is not list or len(shape) > 64:
            raise ProtocolError("bad tensor header")
        if not all(type(n) is int and 0 <= n < 2**40 for n in shape):
            raise ProtocolError("bad tensor shape")
        start, length = self.blob(v.get("b"))
        numel = math.prod(shape)
        if numel * _ITEMSIZE[v["d"]] != length:
            raise ProtocolError(f"tensor byte count {length} does not match shape {shape} of {dtype}")
        if numel == 0:
            return torch.empty(shape, dtype=dtype)
        # read as bytes (the offset may be unaligned), copy into fresh aligned storage, then reinterpret
        raw = torch.frombuffer(self.payload, dtype=torch.uint8, count=length, offset=start)
        if dtype == torch.bool:
            return (raw != 0).reshape(shape)
        return raw.clone().view(dtype).reshape(shape)

    def value(self, v: Any, depth: int, path: tuple[Any, ...]) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES or depth > MAX_DEPTH + 2:
            raise ProtocolError("message too large or too deeply nested")
        tp = type(v)
        if v is None or tp is bool or tp is int or tp is float:
            return v
        if tp is str:
            if len(v) > MAX_STR:
                raise ProtocolError("string too long")
            return v
        if tp is list:
            return [self.value(x, depth + 1, (*path, i)) for i, x in enumerate(v)]
        if tp is not dict:
            raise ProtocolError(f"unexpected JSON value of type {tp.__name__}")
        tag = v.get("$")
        if tag == "t" and type(v.get("v")) is list:
            return tuple(self.value(x, depth + 1, (*path, i)) for i, x in enumerate(v["v"]))
        if tag == "d" and type(v.get("v")) is dict:
            return {str(k): self.value(x, depth + 1, (*path, k)) for k, x in v["v"].items()}
        if tag == "f":
            return self.float_(v)
        if tag == "c" and type(v.get("v")) is list and len(v["v"]) == 2:
            return complex(self.float_(v["v"][0]), self.float_(v["v"][1]))
        if tag == "T":
            return self.tensor(v)
        if tag == "B":
            start, length = self.blob(v.get("b"))
            return bytes(self.payload[start : start + length])
        if tag == "D" and v.get("v") in DTYPES:
            return DTYPES[v["v"]]
        if tag == "h":
            return self.make_handle(handle_info(v), path)
        raise ProtocolError(f"unknown value tag {str(tag)[:20]!r}")


def handle_info(v: dict[str, Any]) -> dict[str, Any]:
    """The checked fields of a handle: ``id`` (int), ``type``/``name``/``repr`` (short str), ``callable``."""
    hid = v.get("id")
    if type(hid) is not int or hid < 0:
        raise ProtocolError("bad handle id")

    def text(key: str) -> str:
        s = v.get(key, "")
        return s[:200] if type(s) is str else ""

    return {
        "id": hid,
        "type": text("type"),
        "name": text("name"),
        "repr": text("repr"),
        "callable": v.get("callable") is True,
    }


def decode_message(
    payload: bytearray, make_handle: HandleFactory, value_keys: tuple[str, ...] = ("value", "args", "kwargs")
) -> dict[str, Any]:
    """Parse a ``J`` payload; the fields in ``value_keys`` are decoded to Python values, the rest kept as JSON.

    ``make_handle(info, path)`` builds the parent's stand-in for an object left in the child (``path``: the
    keys leading to it inside the field). :class:`ProtocolError` for anything malformed.
    """
    try:
        if len(payload) < JSON_LEN.size:
            raise ProtocolError("short message")
        (n,) = JSON_LEN.unpack_from(payload, 0)
        end = JSON_LEN.size + n
        if end > len(payload):
            raise ProtocolError("JSON header runs past the message")
        body = json.loads(bytes(payload[JSON_LEN.size : end]), parse_constant=_reject_constant)
        if type(body) is not dict or type(body.get("op")) is not str or type(body.get("blobs")) is not list:
            raise ProtocolError("message is not an object with op and blobs")
        offsets, pos = [], end
        for length in body["blobs"]:
            if type(length) is not int or length < 0:
                raise ProtocolError("bad blob length")
            offsets.append((pos, length))
            pos += length
        if pos != len(payload):
            raise ProtocolError("blob lengths do not add up to the message length")
        decoder = _Decoder(payload, offsets, make_handle)
        for key in value_keys:
            if key in body:
                body[key] = decoder.value(body[key], 0, (key,))
        return body
    except ProtocolError:
        raise
    except (ValueError, TypeError, RecursionError, OverflowError, RuntimeError, MemoryError) as exc:
        raise ProtocolError(f"malformed message ({type(exc).__name__})") from None
