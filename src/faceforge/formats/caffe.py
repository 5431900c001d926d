"""Caffe model files, read without Caffe (OpenCV 5 dropped its Caffe importer): a network's
layers from its ``.prototxt`` (protobuf text format) and their weights from its
``.caffemodel`` (protobuf binary), as plain Python values and numpy arrays.

Only what a Caffe network definition needs is read: nested messages, strings, numbers and
enum names in the text; `NetParameter.layer` (field 100) with each `LayerParameter`'s name (1),
type (2) and blobs (7, `BlobProto`: shape 7, float data 5, legacy num/channels/height/width
1-4) in the binary. Nothing in the files is executed.
"""

from __future__ import annotations

import os
import re
import struct
from pathlib import Path
from typing import Any

import numpy as np

from faceforge.errors import FormatError
from faceforge.io.files import read_bytes

_HINT = "reinstall the package that ships the model (./setup.sh)"
_TOKEN = re.compile(r'\s*(?:#[^\n]*\n?\s*)*("(?:[^"\\]|\\.)*"|[{}:]|[^\s{}:"#]+)')

Message = dict[str, list[Any]]


# ---------------------------------------------------------------------------------------
# Text format


def _tokens(text: str) -> list[str]:
    tokens, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            if text[pos:].strip() == "" or text[pos:].lstrip().startswith("#"):
                break
            raise ValueError(f"unexpected text at {pos}: {text[pos:pos + 20]!r}")
        tokens.append(match[1])
        pos = match.end()
    return tokens


def _scalar(token: str) -> Any:
    if token.startswith('"'):
        return token[1:-1].encode("latin-1").decode("unicode_escape")
    if token in ("true", "false"):
        return token == "true"
    try:
        return int(token)
    except ValueError:
        pass
    try:
        return float(token)
    except ValueError:
        return token  # an enum name such as MAX or CENTER_SIZE


def parse_prototxt(text: str) -> Message:
    """A protobuf text-format message as {field: [values...]} (every field repeated; nested
    messages are dicts of the same shape)."""
    tokens = _tokens(text)
    root: Message = {}
    stack = [root]
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token == "}":
            if len(stack) == 1:
                raise ValueError("unbalanced '}'")
            stack.pop()
            i += 1
            continue
        name = token
        if i + 1 >= len(tokens):
            raise ValueError(f"field {name!r} has no value")
        following = tokens[i + 1]
        if following == ":" and i + 2 < len(tokens) and tokens[i + 2] != "{":
            stack[-1].setdefault(name, []).append(_scalar(tokens[i + 2]))
            i += 3
            continue
        if following == ":":
            i += 1  # `name: { ... }` is the same as `name { ... }`
        if tokens[i + 1] != "{":
            raise ValueError(f"field {name!r} is followed by {tokens[i + 1]!r}")
        child: Message = {}
        stack[-1].setdefault(name, []).append(child)
        stack.append(child)
        i += 2
    if len(stack) != 1:
        raise ValueError("a '{' is never closed")
    return root


def read_prototxt(path: str | os.PathLike[str]) -> Message:
    path = Path(path)
    try:
        return parse_prototxt(read_bytes(path, "network definition").decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise FormatError(f"{path} is not a Caffe network definition ({exc})", _HINT) from None


# ---------------------------------------------------------------------------------------
# Binary format


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _fields(data: bytes) -> list[tuple[int, int, Any]]:
    """(field number, wire type, value) of one message: ints, or bytes for length-delimited
    and fixed-width values."""
    out, pos = [], 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 1:
            value, pos = data[pos:pos + 8], pos + 8
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise ValueError("truncated field")
            value, pos = data[pos:pos + length], pos + length
        elif wire == 5:
            value, pos = data[pos:pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        out.append((number, wire, value))
    return out


def _blob(data: bytes) -> np.ndarray:
    legacy = [1, 1, 1, 1]
    shape: list[int] = []
    floats: list[bytes] = []
    for number, wire, value in _fields(data):
        if number in (1, 2, 3, 4) and wire == 0:
            legacy[number - 1] = value
        elif number == 7 and wire == 2:  # BlobShape { repeated int64 dim = 1 [packed] }
            for dim_number, dim_wire, dim in _fields(value):
                if dim_number == 1 and dim_wire == 2:
                    pos = 0
                    while pos < len(dim):
                        size, pos = _varint(dim, pos)
                        shape.append(size)
                elif dim_number == 1:
                    shape.append(dim)
        elif number == 5:  # data: packed floats, or one float per field
            floats.append(value)
    array = np.frombuffer(b"".join(floats), dtype="<f4").astype(np.float32)
    dims = shape or [d for d in legacy]
    if int(np.prod(dims)) != array.size:
        dims = [array.size]
    return array.reshape(dims)


def parse_caffemodel(data: bytes) -> dict[str, list[np.ndarray]]:
    """Each layer's blobs (weights, biases, statistics) by layer name."""
    layers: dict[str, list[np.ndarray]] = {}
    for number, wire, value in _fields(data):
        if number != 100 or wire != 2:  # NetParameter.layer
            continue
        name, blobs = "", []
        for field, field_wire, content in _fields(value):
            if field == 1 and field_wire == 2:
                name = content.decode("utf-8")
            elif field == 7 and field_wire == 2:
                blobs.append(_blob(content))
        if blobs:
            layers[name] = blobs
    return layers


def read_caffemodel(path: str | os.PathLike[str]) -> dict[str, list[np.ndarray]]:
    path = Path(path)
    try:
        layers = parse_caffemodel(read_bytes(path, "Caffe model"))
    except (ValueError, UnicodeDecodeError, struct.error) as exc:
        raise FormatError(f"{path} is not a Caffe model ({exc})", _HINT) from None
    if not layers:
        raise FormatError(f"{path} holds no Caffe layers", _HINT)
    return layers
