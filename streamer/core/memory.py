"""Giving freed memory back to the system, and keeping less of it.

glibc's malloc gives each thread that allocates an arena of its own (up to 8 per core), and every arena keeps what
was freed in it: the daemon's dozen threads (capture, inference, steady, publishers, the engines' pools) spread its
heap over as many arenas. `limit_arenas` caps them at two for the daemon (as MALLOC_ARENA_MAX=2 would): one
stream's steady RSS ~50 MB lower (README "Memory"). An explicit MALLOC_ARENA_MAX in the environment wins.

glibc's malloc also keeps freed blocks for reuse: after a burst of large, short-lived allocations (building and racing
the precision candidates, an fp32 session dropped, a 50 MP photo decoded) the process's resident memory stays at
the burst's peak although Python and the engines freed it. `malloc_trim(0)` hands the free pages of every malloc
arena back; it costs a few milliseconds, so it is called after such bursts, never per frame. Elsewhere (musl,
macOS) it is a no-op.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
from functools import cache

M_ARENA_MAX = -8  # mallopt's parameter number (malloc.h)
DAEMON_ARENAS = 2


@cache
def _glibc(name: str):
    try:
        return getattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), name)
    except (OSError, AttributeError):  # not glibc
        return None


def trim() -> bool:
    """Return freed heap pages to the system; True when glibc did (it had something to give back)."""
    fn = _glibc("malloc_trim")
    return bool(fn(0)) if fn is not None else False


def limit_arenas(arenas: int = DAEMON_ARENAS) -> bool:
    """Cap glibc's malloc arenas (call before the threads start: one that already allocated keeps its arena); a
    no-op when MALLOC_ARENA_MAX is set (glibc read it already) or off glibc. True when the cap was set here."""
    fn = _glibc("mallopt")
    if fn is None or "MALLOC_ARENA_MAX" in os.environ:
        return False
    return bool(fn(M_ARENA_MAX, arenas))

