"""ImageZmqPublisher: the colorized view on an imagezmq-compatible PUB endpoint, for existing imagezmq hubs.

An unmodified `imagezmq.ImageHub(open_port="tcp://127.0.0.1:5556", REQ_REP=False)` receives the frames with
`recv_jpg()` (send="jpeg", the default) or `recv_image()` (send="image", raw BGR). The layout is imagezmq's own
(imagezmq.py, `SerializingSocket.send_jpg/send_array`), two parts and no topic part, because ImageHub subscribes
to everything and reads exactly two parts:
    jpeg:  [JSON {"msg": name}, JPEG bytes]
    image: [JSON {"msg": name, "dtype": "uint8", "shape": [h, w, 3]}, raw C-order pixels]
It lives on its own port so these two-part messages never meet the three-part ones of ZmqPublisher.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import numpy as np
import zmq

from streamer.config.net import check_zmq_bind
from streamer.config.options import opt
from streamer.core.frame import DepthFrame
from streamer.publish.base import Publisher, bind_zmq, close_zmq
from streamer.publish.exposure import warn_if_exposed
from streamer.render.renderer import FrameRenderer
from streamer.render.views import VIEWS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImageZmqPublisherOptions:
    host: str = opt("127.0.0.1", "interface to bind; 0.0.0.0 publishes to the whole network, unauthenticated")
    port: int = opt(5556, "TCP port to bind (not the ZmqPublisher's); 0 picks a free one", min=0, max=65535)
    name: str = opt("camera0", "imagezmq `msg` text sent with every image; ImageHub returns it first "
                    "(by imagezmq convention the sender's name)")
    send: str = opt("jpeg", "`jpeg` for ImageHub.recv_jpg(), `image` (raw BGR, ~30x the bytes) for "
                    "ImageHub.recv_image()", choices=("jpeg", "image"))
    view: str = opt("depth", "view rendered for imagezmq", choices=VIEWS)
    jpeg_quality: int = opt(80, "JPEG quality when send = jpeg", min=10, max=100)
    sndhwm: int = opt(2, "messages queued per hub before ZeroMQ drops for it", unit="messages", min=1, max=1000)

    def validate(self) -> None:
        """Checks that need the outside world; the config loader calls it once before anything starts."""
        check_zmq_bind(self.host, self.port)


class ImageZmqPublisher(Publisher):
    """PUB socket speaking imagezmq's PUB/SUB message layout."""

    section = "imagezmq"

    def __init__(self, options: ImageZmqPublisherOptions = ImageZmqPublisherOptions(), *,
                 renderer: FrameRenderer) -> None:
        super().__init__("imagezmq-publisher")
        self.options = options
        self._renderer = renderer
        self._ctx: zmq.Context | None = None
        self._sock: zmq.Socket | None = None
        self.endpoint = ""

    def _open(self) -> None:
        o = self.options
        self._ctx, self._sock, self.endpoint = bind_zmq(zmq.PUB, o.host, o.port, o.sndhwm, "imagezmq")
        log.info("imagezmq: publishing on %s", self.endpoint)
        warn_if_exposed(log, f"imagezmq: {self.endpoint}", o.host,
                        "the colorized camera view; imagezmq has no authentication",
                        'Set [imagezmq] host = "127.0.0.1" unless every machine on that network may see the camera.')

    def _send(self, frame: DepthFrame) -> None:
        assert self._sock is not None
        o = self.options
        if o.send == "jpeg":
            meta: dict = {"msg": o.name}
            payload: bytes | np.ndarray = self._renderer.jpeg(frame, o.view, o.jpeg_quality)
        else:
            payload = np.ascontiguousarray(self._renderer.image(frame, o.view), dtype=np.uint8)
            meta = {"msg": o.name, "dtype": str(payload.dtype), "shape": list(payload.shape)}
        try:
            self._sock.send_multipart([json.dumps(meta).encode(), payload], flags=zmq.NOBLOCK, copy=False)
            self.sent += 1
        except zmq.Again:
            self.send_drops += 1

    def _close(self) -> None:
        close_zmq(self._ctx, self._sock)
        self._ctx = self._sock = None
