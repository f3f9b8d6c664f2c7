"""An unmodified imagezmq.ImageHub (PUB/SUB mode) receives ImageZmqPublisher's frames, JPEG and raw."""
from __future__ import annotations

import cv2
import imagezmq
import numpy as np
import pytest

from streamer.publish.imagezmq_publisher import ImageZmqPublisher, ImageZmqPublisherOptions, imagezmq_hub
from streamer.render.renderer import FrameRenderer


@pytest.fixture
def hub_and_publisher(renderer):
    made = []

    def make(**kw):
        pub = ImageZmqPublisher(ImageZmqPublisherOptions(port=0, name="porch-pi", **kw), renderer=renderer)
        pub.start()
        hub = imagezmq.ImageHub(open_port=pub.endpoint, REQ_REP=False)
        made.append((pub, hub))
        return pub, hub

    yield make
    for pub, hub in made:
        hub.close()
        assert pub.stop(2.0)


def wait_readable(hub: imagezmq.ImageHub, timeout_s: float = 5.0) -> None:
    # ImageHub's receives block forever; poll its socket first so a broken publisher fails the test, not hangs it.
    assert hub.zmq_socket.poll(int(timeout_s * 1000)), "nothing received"


def test_recv_jpg(hub_and_publisher, feeder):
    pub, hub = hub_and_publisher()
    assert pub.options.send == "jpeg" and pub.endpoint.startswith("tcp://127.0.0.1:")
    with feeder(pub.publish, fps=50):
        for _ in range(3):
            wait_readable(hub)
            msg, jpg = hub.recv_jpg()
            image = cv2.imdecode(np.frombuffer(jpg, dtype="uint8"), cv2.IMREAD_COLOR)
            assert msg == "porch-pi" and image.shape == (48, 64, 3)


def test_recv_image(hub_and_publisher, feeder, frames, renderer):
    pub, hub = hub_and_publisher(send="image", view="side_by_side")
    with feeder(pub.publish, fps=50) as feed:
        wait_readable(hub)
        msg, image = hub.recv_image()
        sent = feed.count
    assert msg == "porch-pi" and image.dtype == np.uint8 and image.shape == (48, 128, 3)
    # Bit-exact: the image is one of the frames fed so far, rendered as side_by_side.
    assert any(np.array_equal(image, renderer.image(frames(k), "side_by_side")) for k in range(sent + 1))


def test_several_streams_share_one_port_and_each_frame_names_its_stream(feeder):
    """Several streams: one port (bound by the first publisher to start, closed by the last to stop), each stream's
    frames with its id as `msg`, so one unmodified ImageHub tells the cameras apart as imagezmq users do."""
    options = ImageZmqPublisherOptions(port=0, name="ignored-with-streams")
    hub = imagezmq_hub(options, streams=2)
    front = ImageZmqPublisher(options, renderer=FrameRenderer(), hub=hub, stream="front")
    rear = ImageZmqPublisher(options, renderer=FrameRenderer(), hub=hub, stream="rear")
    front.start()
    rear.start()
    receiver = imagezmq.ImageHub(open_port=hub.endpoint, REQ_REP=False)
    try:
        assert front.endpoint == rear.endpoint == hub.endpoint
        shapes: dict[str, set] = {}
        with feeder(front.publish, fps=40, h=48, w=64), feeder(rear.publish, fps=40, h=96, w=128):
            while set(shapes) != {"front", "rear"} or min(len(s) for s in shapes.values()) < 1:
                wait_readable(receiver)
                msg, jpg = receiver.recv_jpg()
                shapes.setdefault(msg, set()).add(cv2.imdecode(np.frombuffer(jpg, "uint8"), cv2.IMREAD_COLOR).shape)
                assert msg in ("front", "rear"), msg
        assert shapes == {"front": {(48, 64, 3)}, "rear": {(96, 128, 3)}}  # each name on its own stream's frames
        assert front.sent > 0 and rear.sent > 0
        assert front.stop(2.0)  # the other stream still sends on the port
        with feeder(rear.publish, fps=40, h=96, w=128):
            wait_readable(receiver)
            assert receiver.recv_jpg()[0] == "rear"
    finally:
        receiver.close()
        assert rear.stop(2.0)
    again = imagezmq_hub(options)  # the last publisher closed the port: it can be bound again
    again.port = int(hub.endpoint.rsplit(":", 1)[1])
    again.open()
    again.close()
