"""A cold start (no ONNX export cached yet) exports in a child process: the daemon never maps torch, a stop signal
ends it at any moment of the start within about a second, the export child never outlives it (even a SIGKILLed
daemon's), and a half-written export left by a killed daemon is removed at the next start.

Exit times are printed (pytest -s) and asserted with slack for a loaded 2-core machine (the target is 2 s)."""
from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from .harness import DaemonProcess, wait_until

STOP_LIMIT_S = 5.0  # the target is 2 s; the slack is for a machine busy with other work


def export_children(pid: int) -> list[int]:
    """Pids of `python -m streamer.model.export` processes whose parent is `pid`."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid and b"streamer.model.export" in cmdline:
            found.append(int(stat.parent.name))
    return found


def gone(pid: int) -> bool:
    """The process has ended (a zombie counts as ended: it runs nothing)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def parts(cache: Path) -> list[Path]:
    return list((cache / "onnx").glob("*.part")) if (cache / "onnx").is_dir() else []


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


@pytest.mark.parametrize("moment", ["export_starts", "export_runs", "two_sigints", "export_done"])
def test_a_stop_signal_during_the_export_ends_the_daemon_and_its_child(tmp_path, moment):
    cache = tmp_path / "cold"
    daemon = DaemonProcess(cache=cache).start()
    try:
        daemon.wait_log("exporting the network to ONNX", 120)
        children = wait_until(lambda: export_children(daemon.pid), 30, "the export child")
        if moment == "export_done":  # the warm-up's session build and first runs, or the wait for a frame
            wait_until(lambda: all(gone(pid) for pid in children), 120, "the export to finish")
        if moment == "export_runs":
            time.sleep(3.0)  # deep in torch's import or the export itself
            assert export_children(daemon.pid) == children, "the export ended before the signal: nothing tested"
        t0 = time.monotonic()
        daemon.send(signal.SIGINT if moment == "two_sigints" else signal.SIGTERM)
        if moment == "two_sigints":
            time.sleep(0.05)
            daemon.send(signal.SIGINT)
        rc = daemon.wait_exit(30.0)
        seconds = time.monotonic() - t0
        print(f"{moment}: exit {rc} {seconds:.2f} s after the signal")
        assert rc == 0, f"exit {rc} after {seconds:.1f} s:\n{daemon.log}"
        assert seconds <= STOP_LIMIT_S, f"{seconds:.1f} s to stop (target 2 s):\n{daemon.log}"
        wait_until(lambda: all(gone(pid) for pid in children), 5, "the export child to end")
        assert parts(cache) == [], "the interrupted export left its .part file"
        if moment != "export_done":
            assert "during start-up: stopped before serving" in daemon.log
            assert "preview: http://" not in daemon.log  # it never went on to open its ports and warm up
    finally:
        daemon.kill()


def test_a_sigkilled_daemons_export_child_dies_and_its_part_file_goes_at_the_next_start(tmp_path):
    cache = tmp_path / "cold"
    first = DaemonProcess(cache=cache).start()
    try:
        first.wait_log("exporting the network to ONNX", 120)
        children = wait_until(lambda: export_children(first.pid), 30, "the export child")
        first.send(signal.SIGKILL)
        assert first.wait_exit(10) == -signal.SIGKILL
        wait_until(lambda: all(gone(pid) for pid in children), 10, "the orphaned export child to die")
        stale = parts(cache)  # what a killed export leaves: the live size's graph and the uploads' one
        assert stale and all(f".{first.pid}." in p.name for p in stale), stale
    finally:
        first.kill()
    second = DaemonProcess(cache=cache).start()
    try:
        second.wait_log(rf"removed {len(stale)} unfinished ONNX export", 120)
        assert not any(p.exists() for p in stale)
        rc, seconds = second.stop(signal.SIGTERM, timeout=30.0)
        print(f"second start: exit {rc} {seconds:.2f} s after SIGTERM")
        assert rc == 0 and seconds <= STOP_LIMIT_S, (rc, seconds, second.log)
        assert parts(cache) == []
    finally:
        second.kill()
