"""A real Ray cluster on this machine, for `bench batch` and the tests: `ray start --head` on 127.0.0.1 plus, if
asked, more nodes started with `ray start --address`, each in its own process group; stopped on exit (SIGTERM to
the groups started here, then SIGKILL to whatever of them is left), so no raylet outlives its user."""
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
from collections.abc import Iterator
from pathlib import Path

RAY = Path(sys.executable).with_name("ray")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def alive_nodes(address: str, env: dict) -> int:
    code = (f"import ray; ray.init(address={address!r}, logging_level='ERROR'); "
            "print(sum(n['Alive'] for n in ray.nodes())); ray.shutdown()")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    return int(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 and proc.stdout.strip() else 0


def group_members(pgid: int) -> list[int]:
    """Processes in process group `pgid` (from /proc: no name matching)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[2]) == pgid:
                    found.append(int(entry.name))
    return found


@contextlib.contextmanager
def local_cluster(env: dict[str, str], log_dir: Path, cpus_per_node: tuple[int, ...] = (1, 1),
                  timeout_s: float = 120.0) -> Iterator[tuple[str, list[int]]]:
    """Yields (address, the process groups of the nodes). `env` reaches the workers (PYTHONPATH, caches)."""
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths must fit in 107 bytes
    port = free_port()
    address = f"127.0.0.1:{port}"
    procs: list[subprocess.Popen] = []
    env = {**env, "RAY_USAGE_STATS_ENABLED": "0"}
    try:
        for i, cpus in enumerate(cpus_per_node):
            args = ["--head", f"--port={port}", "--include-dashboard=false", f"--temp-dir={temp}"] if i == 0 \
                else [f"--address={address}"]
            log_path = log_dir / f"ray-node{i}.log"
            with open(log_path, "w") as log:
                procs.append(subprocess.Popen([str(RAY), "start", *args, f"--num-cpus={cpus}",
                                               "--node-ip-address=127.0.0.1", "--disable-usage-stats", "--block"],
                                              stdout=log, stderr=subprocess.STDOUT, env=env,
                                              start_new_session=True))
            deadline = time.monotonic() + timeout_s
            while alive_nodes(address, env) < i + 1:
                if time.monotonic() > deadline or procs[-1].poll() is not None:
                    raise RuntimeError(f"ray node {i} did not start:\n{log_path.read_text()[-3000:]}")
                time.sleep(1.0)
        yield address, [p.pid for p in procs]
    finally:
        for proc in reversed(procs):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)  # the group started here, by its id
        deadline = time.monotonic() + 5
        for proc in procs:
            while group_members(proc.pid) and time.monotonic() < deadline:
                time.sleep(0.3)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        shutil.rmtree(temp, ignore_errors=True)
