"""The batch tests' fixtures: one ONNX export cache for the whole session (each export takes ~20 s; every worker
process of every run reads the same file), and `batch(...)`: the real command, run as a subprocess."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import MIDAS, SEED_WEIGHTS, cli, subprocess_env

TRAINED = MIDAS / "trained_proxy.pt"


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("batch-cache")


@pytest.fixture(autouse=True)
def _batch_cache(_isolated_cache, shared_cache, monkeypatch):
    monkeypatch.setenv("DEPTH_STREAMER_CACHE", str(shared_cache))


def run_batch(*args: str | Path, weights: Path = SEED_WEIGHTS, timeout: float = 600) -> subprocess.CompletedProcess:
    """`depth-streamer batch ARGS --weights W --threads 1` (fp32, one thread: outputs are byte-reproducible)."""
    cmd = cli("batch", *map(str, args), "--weights", str(weights), "--threads", "1")
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=subprocess_env())
