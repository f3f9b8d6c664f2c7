"""Kill a batch worker in the middle of a unit: the first part folder a worker writes is named after its pid
(`NNNNN.tmp-PID`); that process, and only it, gets SIGKILL."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path


def workers_mid_unit(out: Path) -> list[int]:
    """The pids of the workers writing a bag unit under `out` now."""
    return [int(tmp.name.rsplit("-", 1)[1]) for tmp in sorted((out / ".batch").glob("*/*.tmp-*"))]


def kill_worker_mid_unit(out: Path, proc: subprocess.Popen, timeout: float = 300,
                         sig: signal.Signals = signal.SIGKILL) -> int:
    """Wait for a unit in progress, send its worker `sig` (SIGKILL; SIGSTOP wedges it); returns its pid."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the run ended before any worker could be killed"
        for pid in workers_mid_unit(out):
            if pid != proc.pid:
                os.kill(pid, sig)
                return pid
        time.sleep(0.02)
    raise AssertionError("no unit was seen in progress")


def bar_counts(stderr: str) -> list[tuple[int, int]]:
    """(done, total) of every line the progress bar printed."""
    return [(int(d), int(t)) for d, t in re.findall(r"^batch \[[#.]*\] (\d+)/(\d+) ", stderr, re.MULTILINE)]


def manifest_rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "batch.manifest.jsonl").read_text().splitlines()]


def output_files(out: Path) -> dict[str, bytes]:
    """Every output file (not the manifest: it holds times and worker names) by its path under `out`."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.name != "batch.manifest.jsonl"}


def run_signalling_a_worker(cmd: list[str], out: Path, env: dict, sig: signal.Signals = signal.SIGKILL,
                            timeout: float = 600) -> tuple[int, subprocess.CompletedProcess]:
    """Run a `batch` command line, send the first worker seen mid-unit `sig`; (its pid, the finished run)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        pid = kill_worker_mid_unit(out, proc, sig=sig)
        stdout, stderr = proc.communicate(timeout=timeout)
    finally:
        proc.kill()
    return pid, subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)
