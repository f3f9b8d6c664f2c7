"""Our thread names reach the OS (top -H, ps -L, bench pipeline's CPU per thread), and CPU is summed per name."""
from __future__ import annotations

import os
import threading
from pathlib import Path

import cv2
import numpy as np

from streamer.core.threads import name_os_threads
from streamer.tools.measure import thread_cpu


def test_python_thread_names_become_os_thread_names_and_cpu_is_read_per_name():
    go, done = threading.Event(), threading.Event()

    def spin() -> None:
        go.wait(10)
        x = 0
        while not done.is_set():  # some CPU to be seen
            x += 1

    thread = threading.Thread(target=spin, name="a-long-name-cut-at-15", daemon=True)
    thread.start()
    try:
        assert thread.native_id is not None
        comm = Path(f"/proc/self/task/{thread.native_id}/comm")
        assert comm.read_text().strip() != "a-long-name-cut"  # the kernel never had it
        assert name_os_threads() >= 1
        assert comm.read_text().strip() == "a-long-name-cut"  # 15 bytes: TASK_COMM_LEN
        assert name_os_threads() == 0  # written once per name
        cv2.setNumThreads(2)
        cv2.resize(np.zeros((2000, 2000), np.float32), (999, 999))  # OpenCV's pool: native threads of its own
        name_os_threads()
        names = [p.read_text().strip() for p in Path("/proc/self/task").glob("*/comm")]
        assert "engine-worker" in names, names
        go.set()
        deadline = 0
        while thread_cpu(os.getpid()).get("a-long-name-cut", 0.0) <= 0.0 and deadline < 500:
            threading.Event().wait(0.01)
            deadline += 1
        assert thread_cpu(os.getpid())["a-long-name-cut"] > 0.0
    finally:
        done.set()
        go.set()
        thread.join(5)
