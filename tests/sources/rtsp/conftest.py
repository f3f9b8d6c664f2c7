"""Fixtures for the RTSP fault tests: one server process per test, sources that are always stopped."""
from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from .harness import JunkServer, RtspServer, gst_rtsp_problem


@pytest.fixture(scope="session")
def gst_rtsp() -> None:
    """Fail, never skip, without GStreamer's RTSP server: a skipped fault suite would prove nothing."""
    problem = gst_rtsp_problem()
    if problem:
        pytest.fail(f"the RTSP fault tests need Debian's GStreamer RTSP server for /usr/bin/python3 ({problem}); "
                    "run `make setup` (it apt-installs python3-gi, gir1.2-gst-rtsp-server-1.0 and the GStreamer "
                    "plugins)", pytrace=False)


@pytest.fixture
def rtsp_server(gst_rtsp) -> Iterator[RtspServer]:
    """A started server on a free port; closed (SIGTERM, then SIGKILL) whatever the test did to it."""
    server = RtspServer()
    try:
        yield server.start()
    finally:
        server.close()


@pytest.fixture
def junk_server() -> Iterator[Callable[[bytes], JunkServer]]:
    servers: list[JunkServer] = []

    def serve(payload: bytes) -> JunkServer:
        servers.append(JunkServer(payload))
        return servers[-1]

    yield serve
    for server in servers:
        server.close()


