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


class ExportStore:
    """The ONNX exports the suite has made so far, lent to each test's own cache as hard links.

    An export is a child process importing torch and tracing the network: ~8 s of CPU, for the same file each time
    (same weights, size and library versions). A test's cache starts with links to the LENT most recently used
    exports and its new exports are kept here afterwards; everything else (int8 builds, precision verdicts, fetched
    weights) stays the test's own. The product checks each export against its sidecar's sha256 before using it, so
    a test that damages a lent file only costs the next test an export. Tests about exporting itself (whether one
    happens, the cache cap) are marked `cold_cache` and start empty."""

    LENT = 10  # 66 MB each: well under the cache's default 1 GB cap, so lending never triggers an eviction

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def lend(self, onnx: Path) -> None:
        exports = sorted(self.folder.glob("midas_small_*.onnx"), key=lambda p: p.stat().st_mtime)[-self.LENT:]
        if exports:
            onnx.mkdir(parents=True, exist_ok=True)
        for path in exports:
            for part in (path, path.with_suffix(".json")):
                if part.is_file():
                    os.link(part, onnx / part.name)

    def keep(self, onnx: Path) -> None:
        """Keep the test's new exports (one made again over a lent file that was damaged replaces it)."""
        for path in onnx.glob("midas_small_*.onnx") if onnx.is_dir() else ():
            sidecar, kept = path.with_suffix(".json"), self.folder / path.name
            if not sidecar.is_file() or (kept.exists() and os.path.samefile(kept, path)):
                continue
            for part in (sidecar, path):  # the sidecar first: a store entry is whole once its .onnx is in
                os.link(part, self.folder / f".{part.name}.new")
                os.replace(self.folder / f".{part.name}.new", self.folder / part.name)


@pytest.fixture(scope="session")
def _export_store(tmp_path_factory) -> ExportStore:
    return ExportStore(tmp_path_factory.mktemp("exports"))


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch, request, _export_store):
    """Every test gets its own cache so int8 builds, verdicts and fetched weights never leak between tests or users;
    its ONNX exports are lent from the suite's ExportStore (none for tests marked cold_cache)."""
    cache = tmp_path_factory.mktemp("cache")
    cold = request.node.get_closest_marker("cold_cache") is not None
    if not cold:
        _export_store.lend(cache / "onnx")
    monkeypatch.setenv("DEPTH_STREAMER_CACHE", str(cache))
    for var in ("STATE_DIRECTORY", "CACHE_DIRECTORY", "DEPTH_STREAMER_WEIGHTS"):
        monkeypatch.delenv(var, raising=False)
    yield cache
    if not cold:
        _export_store.keep(cache / "onnx")


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
