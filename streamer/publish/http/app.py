"""What the HTTP server and its request handlers need from the preview stage: a small interface, so the HTTP side
depends on no concrete publisher (and the publisher, which builds the server, imports nothing that imports it)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from streamer.core.frame import DepthFrame
from streamer.core.status import Health
from streamer.photo.depth import PhotoDepth
from streamer.publish.http.gate import UploadGate
from streamer.publish.http.options import HttpOptions
from streamer.render.colorize import ColorOptions


class PreviewApp(Protocol):
    options: HttpOptions
    still: PhotoDepth | None  # computes uploaded photos (POST /depth); None: uploads off
    uploads: UploadGate

    @property
    def feeds(self) -> Mapping[str, PreviewApp]:
        """Several streams: each stream's own app by id (empty: one stream, this one)."""
        ...

    @property
    def color_options(self) -> ColorOptions: ...

    @property
    def stopping(self) -> bool: ...

    def count(self, name: str, n: int = 1) -> None: ...

    def enter_client(self) -> bool: ...

    def wait_newer(self, than: DepthFrame | None, timeout: float) -> DepthFrame | None: ...

    def pause(self, seconds: float) -> None: ...

    def no_signal_reason(self) -> str | None: ...

    def jpeg(self, frame: DepthFrame, view: str) -> bytes: ...

    def no_signal_jpeg(self, reason: str) -> bytes: ...

    def health(self) -> Health: ...

    def all_stats(self) -> dict: ...

    def metrics(self) -> bytes: ...
