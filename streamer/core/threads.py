"""Our thread names where the OS shows them: `top -H`, `ps -L`, /proc/PID/task/*/comm and `bench pipeline`'s CPU
per thread say "inference", "steady", "network_0", "file-capture", "zmq" ... instead of "python" for every one.

CPython (before 3.14) never passes a thread's name to the kernel; Linux lets a process rename its own threads by
writing /proc/self/task/TID/comm (15 bytes). The supervisor calls this every few seconds, so threads started later
(a reload's, the network pool's) get their names too. Elsewhere (not Linux) it does nothing.

Threads the engines start themselves (OpenVINO's and ONNX Runtime's worker pools, OpenCV's) inherit the name of the
thread that created them, so the precision thread's would count as "precision": they are named ENGINE instead.
Threads with a name of their own (ZeroMQ's "ZMQbg/IO/0") keep it.
"""
from __future__ import annotations

import threading
from pathlib import Path

COMM_BYTES = 15  # the kernel's TASK_COMM_LEN - 1
ENGINE = "engine-worker"
_named: dict[int, str] = {}  # native id -> name last written: each thread is written once per name


def name_os_threads() -> int:
    """Write every live Python thread's name as its OS name, and ENGINE for native threads that only inherited one;
    returns how many were (re)named now."""
    wanted: dict[int, str] = {}
    for thread in threading.enumerate():
        if thread.native_id is not None:
            wanted[thread.native_id] = thread.name.encode("ascii", "replace")[:COMM_BYTES].decode("ascii")
    inherited = {*wanted.values(), _comm("self")}  # the process's own name: what the main thread's children get
    try:
        native = [int(t.name) for t in Path("/proc/self/task").iterdir() if int(t.name) not in wanted]
    except OSError:
        native = []
    for tid in native:
        if _named.get(tid) != ENGINE and _comm(f"self/task/{tid}") in inherited:
            wanted[tid] = ENGINE
    live = {*wanted, *native}
    for gone in [tid for tid in _named if tid not in live]:  # ended threads: their ids may come back as new ones
        del _named[gone]
    renamed = 0
    for tid, name in wanted.items():
        if _named.get(tid) == name:
            continue
        try:
            Path(f"/proc/self/task/{tid}/comm").write_text(name)
        except OSError:  # the thread just ended, or no /proc: nothing to name
            continue
        _named[tid] = name
        renamed += 1
    return renamed


def _comm(where: str) -> str:
    try:
        return Path(f"/proc/{where}/comm").read_text().strip()
    except OSError:
        return ""
