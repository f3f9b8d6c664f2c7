"""Reading a process's memory from outside (`bench footprint`, `bench uploads`): RSS split by kind of mapping adds
up to the RSS the kernel reports, and a loaded engine library shows under its own name."""
from __future__ import annotations

import os
import subprocess
import sys

from streamer.tools.measure import rss_mb, rss_parts
from tests.conftest import subprocess_env


def test_rss_parts_add_up_to_the_rss_and_name_the_engine_libraries():
    code = "import onnxruntime, sys; print('ready', flush=True); sys.stdin.read()"
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                             env=subprocess_env())
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        parts, total = rss_parts(child.pid), rss_mb(child.pid)
        assert parts["ONNX Runtime library"] > 1 and "torch libraries" not in parts
        assert parts["heap and anonymous"] > 1 and parts["other libraries and files"] > 1
        assert abs(sum(parts.values()) - total) < 0.05 * total, (parts, total)
    finally:
        child.kill()
        child.wait()
    assert rss_parts(child.pid) == {} and rss_parts(os.getpid())  # gone: nothing; this process: something
