"""Publishers: the steadied depth leaves the daemon here (ZeroMQ, imagezmq, MJPEG over HTTP), plus a client and
a viewer for it. Every publisher is a stage: `start()`, `stop(timeout)` and a never-blocking `publish(frame)`."""
from streamer.publish.base import VIEWS, Publisher
from streamer.publish.client import DepthSubscriber
from streamer.publish.imagezmq_publisher import ImageZmqPublisher, ImageZmqPublisherOptions
from streamer.publish.mjpeg_server import MjpegOptions, MjpegPublisher
from streamer.publish.zmq_publisher import ZmqPublisher, ZmqPublisherOptions

__all__ = ["VIEWS", "DepthSubscriber", "ImageZmqPublisher", "ImageZmqPublisherOptions", "MjpegOptions",
           "MjpegPublisher", "Publisher", "ZmqPublisher", "ZmqPublisherOptions"]
