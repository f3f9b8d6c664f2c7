"""A real Ray cluster on 127.0.0.1 for the tests: `ray start --head` plus a second node started with
`ray start --address`, each with one CPU, each in its own process group; stopped at teardown (SIGTERM to the groups
we started, then SIGKILL to whatever of them is left), so no raylet outlives the tests."""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.conftest import REPO, subprocess_env

RAY = Path(sys.executable).with_name("ray")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive_nodes(address: str, env: dict) -> int:
    code = (f"import ray; ray.init(address={address!r}, logging_level='ERROR'); "
            "print(sum(n['Alive'] for n in ray.nodes())); ray.shutdown()")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    return int(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 and proc.stdout.strip() else 0


def _group_members(pgid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[2]) == pgid:
                    found.append(int(entry.name))
    return found


@contextlib.contextmanager
def local_cluster(cache: Path, log_dir: Path):
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths must fit in 107 bytes
    port = free_port()
    env = subprocess_env(PYTHONPATH=str(REPO), DEPTH_STREAMER_CACHE=str(cache), RAY_USAGE_STATS_ENABLED="0")
    address = f"127.0.0.1:{port}"
    procs: list[subprocess.Popen] = []
    try:
        for name, args in (("head", ["--head", f"--port={port}", "--include-dashboard=false", f"--temp-dir={temp}"]),
                           ("node", [f"--address={address}"])):
            with open(log_dir / f"ray-{name}.log", "w") as log:
                procs.append(subprocess.Popen([str(RAY), "start", *args, "--num-cpus=1", "--node-ip-address=127.0.0.1",
                                               "--disable-usage-stats", "--block"], stdout=log,
                                              stderr=subprocess.STDOUT, env=env, start_new_session=True))
            deadline = time.monotonic() + 120
            want = len(procs)
            while _alive_nodes(address, env) < want:
                assert time.monotonic() < deadline, (log_dir / f"ray-{name}.log").read_text()[-3000:]
                assert procs[-1].poll() is None, (log_dir / f"ray-{name}.log").read_text()[-3000:]
                time.sleep(1.0)
        yield address, env
    finally:
        for proc in reversed(procs):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)  # the group we started, by its id
        deadline = time.monotonic() + 5
        for proc in procs:
            while _group_members(proc.pid) and time.monotonic() < deadline:
                time.sleep(0.3)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        shutil.rmtree(temp, ignore_errors=True)
