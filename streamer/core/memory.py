"""Giving freed memory back to the system.

glibc's malloc keeps freed blocks for reuse: after a burst of large, short-lived allocations (building and racing
the precision candidates, an fp32 session dropped, a 50 MP photo decoded) the process's resident memory stays at
the burst's peak although Python and the engines freed it. `malloc_trim(0)` hands the free pages of every malloc
arena back; it costs a few milliseconds, so it is called after such bursts, never per frame. Elsewhere (musl,
macOS) it is a no-op.
"""
from __future__ import annotations

import ctypes
import ctypes.util
from functools import cache


@cache
def _malloc_trim():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


def trim() -> bool:
    """Return freed heap pages to the system; True when glibc did (it had something to give back)."""
    fn = _malloc_trim()
    return bool(fn(0)) if fn is not None else False

