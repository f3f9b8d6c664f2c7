"""Mistakes a person makes when starting the daemon end it at once with exit status 78 (EX_CONFIG, which the systemd
unit does not restart on) and one clear ERROR line naming the problem: no traceback, no hang.

The cases start together (three at a time): each is mostly interpreter start-up, and the box has two cores.
"""
from __future__ import annotations

import re
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from tests.conftest import REPO, SEED_WEIGHTS, cli, subprocess_env

from .harness import COCKATOO, free_port

EX_CONFIG = 78
LIMIT_S = 20.0


def run_case(argv: list[str], cache: Path, timeout: float = LIMIT_S) -> tuple[int | None, float, str]:
    t0 = time.monotonic()
    try:
        done = subprocess.run(argv, cwd=REPO, env=subprocess_env(DEPTH_STREAMER_CACHE=str(cache)),
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        return None, time.monotonic() - t0, str(exc.stderr or "")
    return done.returncode, time.monotonic() - t0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory, daemon_cache):
    """{case: (exit status or None on timeout, seconds, output, words the error line must contain)}."""
    tmp = tmp_path_factory.mktemp("bad-inputs")
    truncated = tmp / "truncated.pt"
    truncated.write_bytes(SEED_WEIGHTS.read_bytes()[: SEED_WEIGHTS.stat().st_size // 2])
    busy = socket.socket()  # holds the HTTP port for the "port in use" case
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    busy_port = busy.getsockname()[1]

    def run_args(*args: str, weights: Path = SEED_WEIGHTS, source: str = str(COCKATOO),
                 http_port: int | None = None) -> list[str]:
        return cli("run", "--weights", str(weights), "--source", source, "--http-port", str(http_port or free_port()),
                   "--zmq-port", str(free_port()), "--set", f"imagezmq.port={free_port()}", *args)

    not_utf8 = tmp / "latin1.toml"
    not_utf8.write_bytes("[zmq]\ncamera_id = 'caf\u00e9'\n".encode("latin-1"))
    garbage = tmp / "garbage.pt"
    garbage.write_bytes(b"<html>not found</html>")
    state = torch.load(SEED_WEIGHTS, map_location="cpu", weights_only=True)
    state.pop("pretrained.layer1.0.weight")
    torch.save(state, tmp / "wrong_layout.pt")
    port = free_port()

    def check_args(weights: Path, *args: str) -> list[str]:
        return cli("run", "--check", "--weights", str(weights), "--source", str(COCKATOO), *args)

    cases = {
        "config_is_a_directory": (run_args("--config", str(tmp)), ["is a directory", str(tmp)]),
        "config_not_utf8": (run_args("--config", str(not_utf8)), ["not UTF-8", str(not_utf8)]),
        "cors_origins_string": (run_args("--set", "http.cors_origins='https://x'"), ["cors_origins", "must be a list"]),
        "bad_host": (check_args(SEED_WEIGHTS, "--set", "http.host=999.1.1.1"), ["[http] host", "999.1.1.1"]),
        "unresolvable_host": (check_args(SEED_WEIGHTS, "--set", "zmq.host=no-such-host.invalid"),
                              ["[zmq] host", "no-such-host.invalid", "does not resolve"]),
        "http_port_is_zmq_port": (check_args(SEED_WEIGHTS, "--http-port", str(port), "--zmq-port", str(port)),
                                  ["[http] port", "[zmq] port", str(port)]),
        "imagezmq_port_clash": (check_args(SEED_WEIGHTS, "--set", "daemon.imagezmq=true", "--zmq-port", str(port),
                                           "--set", f"imagezmq.port={port}"), ["[zmq] port", "[imagezmq] port"]),
        "check_missing_weights": (check_args(tmp / "nope.pt"), ["weights file not found", str(tmp / "nope.pt")]),
        "check_garbage_weights": (check_args(garbage), ["not a PyTorch checkpoint", str(garbage)]),
        "check_truncated_weights": (check_args(truncated), ["cannot read weights file", "truncated/corrupt"]),
        "check_wrong_layout": (check_args(tmp / "wrong_layout.pt"), ["not a MiDaS v2.1 small", "1 missing keys",
                                                                     "pretrained.layer1.0.weight"]),
        "missing_weights": (run_args(weights=tmp / "nope.pt"), ["weights file not found", str(tmp / "nope.pt")]),
        "corrupt_weights": (run_args(weights=truncated), ["cannot read weights file", "truncated/corrupt"]),
        "unknown_key": (run_args("--set", "source.fsp=3"), ["[source] fsp", "unknown key", "did you mean `fps`"]),
        "bad_type": (run_args("--set", 'source.fps="fast"'), ["[source] fps", "must be a number"]),
        "bad_url": (run_args(source="rtsp:///live"), ["url", "rtsp:///live", "no host"]),
        "http_port_in_use": (run_args(http_port=busy_port), ["cannot listen", str(busy_port), "in use"]),
    }
    try:
        with ThreadPoolExecutor(max_workers=3) as pool:
            futures = {name: pool.submit(run_case, argv, daemon_cache) for name, (argv, _) in cases.items()}
            yield {name: (*futures[name].result(), cases[name][1]) for name in cases}
    finally:
        busy.close()


@pytest.mark.parametrize("case", ["missing_weights", "corrupt_weights", "unknown_key", "bad_type", "bad_url",
                                  "http_port_in_use", "config_is_a_directory", "config_not_utf8", "cors_origins_string",
                                  "bad_host", "unresolvable_host", "http_port_is_zmq_port", "imagezmq_port_clash",
                                  "check_missing_weights", "check_garbage_weights", "check_truncated_weights",
                                  "check_wrong_layout"])
def test_bad_start_exits_78_with_one_clear_line(outcomes, case):
    rc, elapsed, output, words = outcomes[case]
    assert rc is not None, f"still running after {LIMIT_S:g} s (hang):\n{output}"
    assert rc == EX_CONFIG, f"exit {rc}, expected {EX_CONFIG}:\n{output}"
    assert elapsed < LIMIT_S
    assert "Traceback" not in output, output
    # Failed before any heavy work: no ONNX export began (an export imports torch: seconds, and tens of seconds
    # on a loaded machine, which is how these starts used to pass 20 s).
    assert "exporting the network" not in output, output
    errors = [line for line in output.splitlines() if re.search(r"\bERROR\b", line)]
    assert len(errors) == 1, f"expected one ERROR line:\n{output}"
    for word in words:
        assert word in errors[0], f"{word!r} not in {errors[0]!r}"


def test_check_accepts_what_it_should(tmp_path, daemon_cache):
    """A UTF-8 BOM is fine; port 0 (any free port) never clashes; imagezmq's port only counts when it is enabled;
    seed weights in the official layout pass the strict load."""
    config = tmp_path / "bom.toml"
    config.write_bytes("\ufeff[http]\nport = 0\n\n[zmq]\nport = 0\n\n[imagezmq]\nport = 5555\n".encode())
    argv = cli("run", "--check", "--config", str(config), "--weights", str(SEED_WEIGHTS))
    # --check runs the weights once (an ONNX export on a cold cache: a minute or more on a loaded 2-core box)
    rc, _, output = run_case(argv, daemon_cache, timeout=600)
    assert rc == 0, output
    assert "loads strictly" in output and "[http]\n" in output
    assert "one run on the built-in test image gives finite depth" in output
