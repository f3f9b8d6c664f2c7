"""Fixtures for the source tests: media generated once per session, started sources that always get stopped."""
from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from source_helpers import FIXTURES, TcpServer, write_video


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """media(name, **write_video kwargs) -> path, each file encoded once per test session."""
    folder = tmp_path_factory.mktemp("media")
    made: dict[str, Path] = {}

    def make(name: str, **kwargs) -> Path:
        if name not in made:
            made[name] = write_video(folder / name, **kwargs)
        return made[name]

    return make


@pytest.fixture
def fixture_video() -> Callable[[str], Path]:
    def find(name: str) -> Path:
        path = FIXTURES / name
        if not path.exists():
            pytest.skip(f"shared fixture {path} not present")
        return path

    return find




@pytest.fixture
def tcp_server() -> Iterator[Callable[[Callable[[socket.socket], None]], TcpServer]]:
    servers: list[TcpServer] = []

    def serve(handler: Callable[[socket.socket], None]) -> TcpServer:
        servers.append(TcpServer(handler))
        return servers[-1]

    yield serve
    for server in servers:
        server.close()


