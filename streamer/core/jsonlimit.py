"""The one JSON reader for what comes from outside (files a user names, messages other processes send, our own
caches on disk): bounded in size, nesting and number length before the parser runs.

Why: `json.loads` recurses once per nesting level (100 000 nested lists end in a RecursionError traceback), keeps
integers of any length (10**400 becomes an OverflowError wherever it meets a float) and takes whatever size it is
given. Here the size is checked first, the nesting is measured with numpy over the bytes (brackets inside strings
do not count) without recursion, and integers longer than MAX_DIGITS are refused by the parser's own hook. Every
problem is a ValueError (JSONDecodeError is one) whose message says what is wrong, never where Python ran out.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

MAX_DEPTH = 32  # our documents nest at most ~4 deep; 32 leaves room and stays far from the recursion limit
MAX_DIGITS = 30  # an integer longer than this is no pixel, count or timestamp we read
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
_OPEN = np.zeros(256, np.int8)
_OPEN[[ord("["), ord("{")]] = 1
_OPEN[[ord("]"), ord("}")]] = -1


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_DIGITS:
        raise ValueError(f"a number of {len(text.lstrip('-'))} digits (at most {MAX_DIGITS})")
    return int(text)


def _bounded_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"a number out of range ({text[:20]}...)")
    return value


def depth(data: bytes) -> int:
    """The deepest nesting of [ and { in a JSON text (0 for a scalar), brackets inside strings not counted."""
    outside = _STRING.sub(b'""', data)
    if not outside:
        return 0
    steps = _OPEN[np.frombuffer(outside, np.uint8)]
    return int(np.cumsum(steps, dtype=np.int64).max(initial=0))


def loads(data: bytes | bytearray | memoryview | str, *, what: str, max_bytes: int = 16 << 20,
          max_depth: int = MAX_DEPTH) -> Any:
    """The parsed document; ValueError starting with `what` when it is too big, too deep, holds a number too long
    or is not JSON."""
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if len(raw) > max_bytes:
        raise ValueError(f"{what}: {len(raw)} bytes of JSON, over the limit of {max_bytes}")
    deepest = depth(raw)
    if deepest > max_depth:
        raise ValueError(f"{what}: JSON nested {deepest} deep, over the limit of {max_depth}")
    try:
        return json.loads(raw, parse_int=_bounded_int, parse_float=_bounded_float)
    except UnicodeDecodeError as exc:
        raise ValueError(f"{what}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except ValueError as exc:  # JSONDecodeError, and our hooks' refusals
        raise ValueError(f"{what}: not valid JSON ({exc})") from None


def load(path: Path, *, what: str, max_bytes: int = 16 << 20, max_depth: int = MAX_DEPTH) -> Any:
    """`loads` of a file, reading no more than `max_bytes` + 1 of it (a 10 GB file is refused, not read);
    OSError when it cannot be read."""
    with path.open("rb") as f:
        data = f.read(max_bytes + 1)
    return loads(data, what=what, max_bytes=max_bytes, max_depth=max_depth)


def load_object(path: Path, *, what: str, max_bytes: int = 16 << 20) -> dict:
    """`load` of a file that must hold a JSON object (our sidecars, caches and settings files); ValueError
    otherwise, so a `[]` or `null` in one is refused like bad JSON, never an AttributeError later."""
    doc = load(path, what=what, max_bytes=max_bytes)
    if not isinstance(doc, dict):
        raise ValueError(f"{what}: expected a JSON object, got {type(doc).__name__}")
    return doc
