"""JSON from files faceforge did not necessarily write (store metadata, face PNG metadata,
model state, imports): parsed with its nesting bounded, every failure one ValueError.

Python's parser recurses once per level, so a document nested 100,000 deep would raise
RecursionError (and a few thousand deep would still make later recursive code fail). None
of faceforge's documents is nested more than a handful of levels deep.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

MAX_JSON_DEPTH = 32

# A JSON string, escapes included; applied only to text that already parsed.
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_OPENERS = np.zeros(256, np.int8)
_OPENERS[[ord("["), ord("{")]] = 1
_OPENERS[[ord("]"), ord("}")]] = -1


class JsonProblem(ValueError):
    """Text that is not JSON, or JSON nested deeper than faceforge's documents ever are."""


def nesting_depth(data: bytes) -> int:
    """How deep arrays and objects nest in valid JSON `data` (0 for a plain value)."""
    outside_strings = _STRING.sub(b'""', data)
    steps = _OPENERS[np.frombuffer(outside_strings, np.uint8)]
    return int(np.cumsum(steps, dtype=np.int64).max(initial=0))


def parse_json(data: str | bytes | bytearray, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """The value of the JSON document `data` (UTF-8 when bytes).

    Raises `JsonProblem` (a ValueError) saying what is wrong for text that is not UTF-8, not
    JSON, or nested deeper than `max_depth`; never RecursionError.
    """
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    try:
        value = json.loads(raw)
    except UnicodeDecodeError:
        raise JsonProblem("it is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise JsonProblem(f"it is not valid JSON ({exc.msg} at character {exc.pos})") from None
    except RecursionError:
        raise JsonProblem(f"it nests deeper than {max_depth} levels") from None
    if isinstance(value, (list, dict)) and nesting_depth(raw) > max_depth:
        raise JsonProblem(f"it nests deeper than {max_depth} levels")
    return value
