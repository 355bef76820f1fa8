"""Scalar metadata of a GGUF file (architecture, context length, special token ids...) from its header only.

Hand-written rather than gguf-py's `GGUFReader`: the reader maps the whole file and builds numpy views of
every field and tensor, which for a 49k-token vocabulary took about 3 s per open (two opens per
`tailor compare`, profiled). Here the key/value section is walked once; arrays (the vocabulary, merges,
scores) are skipped by seeking past them, and only scalar and string values are kept. The format is
the one in ggml's docs/gguf.md (version 2 and 3: little-endian, 64-bit counts); anything else is
refused with a ModelError, as a damaged file is.
"""
from __future__ import annotations

import struct
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import ModelError

# GGUF value types: id -> (struct format, size); 8 = string, 9 = array
_SCALARS = {0: ("<B", 1), 1: ("<b", 1), 2: ("<H", 2), 3: ("<h", 2), 4: ("<I", 4), 5: ("<i", 4),
            6: ("<f", 4), 7: ("<?", 1), 10: ("<Q", 8), 11: ("<q", 8), 12: ("<d", 8)}
_STRING, _ARRAY = 8, 9


def _read(fh: BinaryIO, n: int) -> bytes:
    data = fh.read(n)
    if len(data) != n:
        raise EOFError("the file ends inside its header")
    return data


def _u64(fh: BinaryIO) -> int:
    return struct.unpack("<Q", _read(fh, 8))[0]


def _string(fh: BinaryIO) -> str:
    return _read(fh, _u64(fh)).decode("utf-8", errors="replace")


def _value(fh: BinaryIO, kind: int) -> Any:
    if kind in _SCALARS:
        fmt, size = _SCALARS[kind]
        return struct.unpack(fmt, _read(fh, size))[0]
    if kind == _STRING:
        return _string(fh)
    if kind == _ARRAY:
        item, count = struct.unpack("<I", _read(fh, 4))[0], _u64(fh)
        if item in _SCALARS:
            fh.seek(_SCALARS[item][1] * count, 1)
        elif item == _STRING:
            for _ in range(count):
                fh.seek(_u64(fh), 1)
        else:  # nested arrays do not occur in model files; walk them anyway
            for _ in range(count):
                _value(fh, item)
        return None
    raise ValueError(f"unknown GGUF value type {kind}")


def gguf_metadata(path: Path) -> dict[str, Any]:
    """{key: value} of every scalar and string field in the header (arrays are left out)."""
    try:
        with open(path, "rb") as fh:
            if _read(fh, 4) != b"GGUF":
                raise ValueError("no GGUF magic number")
            version = struct.unpack("<I", _read(fh, 4))[0]
            if version not in (2, 3):
                raise ValueError(f"GGUF version {version} (2 and 3 are read)")
            _u64(fh)  # tensor count
            meta: dict[str, Any] = {}
            for _ in range(_u64(fh)):
                key = _string(fh)
                kind = struct.unpack("<I", _read(fh, 4))[0]
                value = _value(fh, kind)
                if value is not None:
                    meta[key] = value
            return meta
    except (OSError, EOFError, ValueError, struct.error, OverflowError) as exc:
        raise ModelError(f"{path} is not a readable GGUF file ({type(exc).__name__}: {exc})", where=str(path),
                         fix="re-export it with `tailor export --gguf`") from None
