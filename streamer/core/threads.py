"""Our thread names where the OS shows them: `top -H`, `ps -L`, /proc/PID/task/*/comm and `bench pipeline`'s CPU
per thread say "inference", "steady", "network_0", "file-capture", "zmq" ... instead of "python" for every one.

CPython (before 3.14) never passes a thread's name to the kernel; Linux lets a process rename its own threads by
writing /proc/self/task/TID/comm (15 bytes). The supervisor calls this every few seconds, so threads started later
(a reload's, the network pool's) get their names too. Elsewhere (not Linux) it does nothing.
"""
from __future__ import annotations

import threading
from pathlib import Path

COMM_BYTES = 15  # the kernel's TASK_COMM_LEN - 1
_named: dict[int, str] = {}  # native id -> name last written: each thread is written once per name


def name_os_threads() -> int:
    """Write every live Python thread's name as its OS name; returns how many were (re)named now."""
    renamed = 0
    for thread in threading.enumerate():
        tid = thread.native_id
        if tid is None:
            continue
        name = thread.name.encode("ascii", "replace")[:COMM_BYTES].decode("ascii")
        if _named.get(tid) == name:
            continue
        try:
            Path(f"/proc/self/task/{tid}/comm").write_text(name)
        except OSError:  # the thread just ended, or no /proc: nothing to name
            continue
        _named[tid] = name
        renamed += 1
    return renamed
