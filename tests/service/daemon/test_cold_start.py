"""A cold start (no ONNX export cached yet) exports in a child process: the daemon never maps torch, and SIGTERM is
as prompt as on a warm start."""
from __future__ import annotations

import signal
from pathlib import Path

from .harness import DaemonProcess


def test_cold_start_never_loads_torch_and_stops_promptly(tmp_path):
    daemon = DaemonProcess(cache=tmp_path / "cold").start()
    try:
        daemon.wait_healthy()
        assert "exporting the network to ONNX" in daemon.log
        maps = Path(f"/proc/{daemon.pid}/maps").read_text()
        assert "libtorch" not in maps and "onnxruntime" in maps  # the export ran elsewhere; inference runs here
        rc, seconds = daemon.stop(signal.SIGTERM, timeout=10.0)
        assert rc == 0 and seconds < 2.0, (rc, seconds, daemon.log)
    finally:
        daemon.kill()
