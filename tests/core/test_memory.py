"""glibc's malloc arenas and trimming (streamer/core/memory.py), observed in child processes through glibc's own
malloc_stats: the daemon's cap holds however many threads allocate, and MALLOC_ARENA_MAX set by an operator wins."""
from __future__ import annotations

import subprocess
import sys

from tests.conftest import subprocess_env

THREADS = """
import ctypes, sys, threading
from streamer.core.memory import limit_arenas, trim
print(limit_arenas(), flush=True)
barrier, keep = threading.Barrier(9), []
def work():
    keep.append([bytearray(1000 + i) for i in range(200)])  # above pymalloc's 512 bytes: glibc's malloc
    barrier.wait()
threads = [threading.Thread(target=work) for _ in range(8)]
[t.start() for t in threads]; barrier.wait(); [t.join() for t in threads]
keep.clear()
print(trim() in (True, False), flush=True)
ctypes.CDLL("libc.so.6").malloc_stats()
"""


def arenas(**env: str) -> tuple[int, list[str]]:
    out = subprocess.run([sys.executable, "-c", THREADS], capture_output=True, text=True, timeout=60, check=True,
                         env=subprocess_env(**env))
    return sum(line.startswith("Arena ") for line in out.stderr.splitlines()), out.stdout.split()


def test_the_daemon_caps_malloc_arenas_at_two_and_an_operators_setting_wins():
    count, printed = arenas()
    assert printed == ["True", "True"] and count == 2  # eight allocating threads, two arenas
    count, printed = arenas(MALLOC_ARENA_MAX="4")
    assert printed == ["False", "True"] and count == 4  # glibc applied the operator's value; we left it alone
