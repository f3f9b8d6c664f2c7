"""Shared test fixtures. The golden data lives in ../shared beside the repository (never copied into it)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = (REPO.parent / "shared").resolve()
FIXTURES = SHARED / "fixtures"
MIDAS = FIXTURES / "midas_small"
VIDEO = FIXTURES / "video"
SEED_WEIGHTS = MIDAS / "random_seed0.pt"
IMAGES = {"lions": MIDAS / "images" / "lions.jpg", "turtle": MIDAS / "images" / "turtle.jpg",
          "gradient_640x480": MIDAS / "images" / "gradient_640x480.png"}

if not SEED_WEIGHTS.is_file():
    # Loud, not a skip: without the fixtures the parity tests would silently prove nothing.
    raise pytest.UsageError(f"test fixtures not found at {FIXTURES}; the shared/ folder must sit beside the repo")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own cache so ONNX exports and fetched weights never leak between tests or users."""
    monkeypatch.setenv("DEPTH_STREAMER_CACHE", str(tmp_path_factory.mktemp("cache")))
    for var in ("STATE_DIRECTORY", "CACHE_DIRECTORY", "DEPTH_STREAMER_WEIGHTS"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def running():
    """running(source) starts a frame source and guarantees a prompt stop at teardown, whatever the test did."""
    started = []

    def start(source):
        source.start()
        started.append(source)
        return source

    yield start
    for source in started:
        assert source.stop(timeout=6.0), f"{source.kind} source did not stop"


def cli(*args: str) -> list[str]:
    """The installed console script, run as a real subprocess with this interpreter."""
    return [sys.executable, "-m", "streamer", *args]


def subprocess_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env
