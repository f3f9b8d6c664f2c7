"""Fixtures for the end-to-end daemon tests: one shared model cache, daemons that are always killed afterwards."""
from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .harness import DaemonProcess, NotifyListener


@pytest.fixture(scope="package")
def daemon_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One DEPTH_STREAMER_CACHE for every daemon in this folder: the ONNX export (~1.5 s) happens once, not per
    daemon. (The autouse per-test cache of tests/conftest.py only reaches this process, not a subprocess.)"""
    return tmp_path_factory.mktemp("daemon-cache")


@pytest.fixture
def spawn(daemon_cache: Path) -> Iterator[Callable[..., DaemonProcess]]:
    """Start a daemon for one test: spawn(*run_args, source=..., env=..., drop_env=...); killed at teardown."""
    started: list[DaemonProcess] = []

    def start(*args: str, **kwargs: object) -> DaemonProcess:
        daemon = DaemonProcess(*args, cache=daemon_cache, **kwargs)  # type: ignore[arg-type]
        started.append(daemon)
        return daemon.start()

    yield start
    for daemon in started:
        daemon.kill()


@pytest.fixture
def notify() -> Iterator[NotifyListener]:
    """A NOTIFY_SOCKET listener in a short private dir (AF_UNIX paths are limited to 107 bytes)."""
    directory = Path(tempfile.mkdtemp(prefix="ds-notify-"))
    listener = NotifyListener(directory)
    try:
        yield listener
    finally:
        listener.close()
        shutil.rmtree(directory, ignore_errors=True)
