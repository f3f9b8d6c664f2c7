"""ImageZmqPublisher: the colorized view on an imagezmq-compatible PUB endpoint, for existing imagezmq hubs.

An unmodified `imagezmq.ImageHub(open_port="tcp://127.0.0.1:5556", REQ_REP=False)` receives the frames with
`recv_jpg()` (send="jpeg", the default) or `recv_image()` (send="image", raw BGR). The layout is imagezmq's own
(imagezmq.py, `SerializingSocket.send_jpg/send_array`), two parts and no topic part, because ImageHub subscribes
to everything and reads exactly two parts:
    jpeg:  [JSON {"msg": name}, JPEG bytes]
    image: [JSON {"msg": name, "dtype": "uint8", "shape": [h, w, 3]}, raw C-order pixels]
It lives on its own port so these two-part messages never meet the three-part ones of ZmqPublisher. With several
streams every stream sends on the one port and its `msg` is the stream's id: how an imagezmq hub tells its cameras
apart (`cam, jpg = hub.recv_jpg()`); one stream keeps `[imagezmq] name`.
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
from streamer.publish.base import Publisher, bind_zmq
from streamer.publish.exposure import warn_if_exposed
from streamer.publish.zmq_hub import ZmqHub
from streamer.render.renderer import FrameRenderer
from streamer.render.views import VIEWS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImageZmqPublisherOptions:
    host: str = opt("127.0.0.1", "interface to bind; 0.0.0.0 publishes to the whole network, unauthenticated")
    port: int = opt(5556, "TCP port to bind (not the ZmqPublisher's); 0 picks a free one", min=0, max=65535)
    name: str = opt("camera0", "imagezmq `msg` text sent with every image; ImageHub returns it first "
                    "(by imagezmq convention the sender's name); with several streams each sends its stream id")
    send: str = opt("jpeg", "`jpeg` for ImageHub.recv_jpg(), `image` (raw BGR, ~30x the bytes) for "
                    "ImageHub.recv_image()", choices=("jpeg", "image"))
    view: str = opt("depth", "view rendered for imagezmq", choices=VIEWS)
    jpeg_quality: int = opt(80, "JPEG quality when send = jpeg", min=10, max=100)
    sndhwm: int = opt(2, "messages queued per hub before ZeroMQ drops for it", unit="messages", min=1, max=1000)

    def validate(self) -> None:
        """Checks that need the outside world; the config loader calls it once before anything starts."""
        check_zmq_bind(self.host, self.port)


class ImageZmqHub(ZmqHub):
    """The imagezmq port every stream's ImageZmqPublisher sends on: a plain PUB socket (imagezmq's), bound by the
    first publisher to open it and closed by the last."""

    def _bind(self) -> None:
        self._ctx, self._sock, self.endpoint = bind_zmq(zmq.PUB, self.host, self.port, self.hwm, "imagezmq")
        log.info("imagezmq: publishing on %s", self.endpoint)
        warn_if_exposed(log, f"imagezmq: {self.endpoint}", self.host,
                        "the colorized camera view; imagezmq has no authentication",
                        'Set [imagezmq] host = "127.0.0.1" unless every machine on that network may see the camera.')


def imagezmq_hub(options: ImageZmqPublisherOptions, streams: int = 1) -> ImageZmqHub:
    """The port for `streams` streams: `sndhwm` messages queued per hub for each of them."""
    return ImageZmqHub(options.host, options.port, options.sndhwm * streams)


class ImageZmqPublisher(Publisher):
    """One stream's imagezmq frames, in imagezmq's PUB/SUB message layout."""

    section = "imagezmq"

    def __init__(self, options: ImageZmqPublisherOptions = ImageZmqPublisherOptions(), *,
                 renderer: FrameRenderer, hub: ImageZmqHub | None = None, stream: str | None = None) -> None:
        """`hub`: the port shared with the other streams' publishers (None: its own, bound at start). `stream`:
        the stream's id, sent as `msg` (None: one stream, `[imagezmq] name`)."""
        super().__init__("imagezmq-publisher" if stream is None else f"imagezmq-{stream}")
        self.options = options
        self._renderer = renderer
        self.hub = hub if hub is not None else imagezmq_hub(options)
        self.msg = stream if stream is not None else options.name

    @property
    def endpoint(self) -> str:
        return self.hub.endpoint

    def _open(self) -> None:
        self.hub.open()

    def _send(self, frame: DepthFrame) -> None:
        o = self.options
        if o.send == "jpeg":
            meta: dict = {"msg": self.msg}
            payload: bytes | np.ndarray = self._renderer.jpeg(frame, o.view, o.jpeg_quality)
        else:
            payload = np.ascontiguousarray(self._renderer.image(frame, o.view), dtype=np.uint8)
            meta = {"msg": self.msg, "dtype": str(payload.dtype), "shape": list(payload.shape)}
        if self.hub.send_parts([json.dumps(meta).encode(), payload]):
            self.sent += 1
        else:
            self.send_drops += 1

    def _close(self) -> None:
        self.hub.close()
