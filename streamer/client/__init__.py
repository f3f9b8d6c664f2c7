"""What other processes import to read a running daemon: the ZeroMQ subscriber and the preview window."""
from streamer.client.subscriber import DepthSubscriber

__all__ = ["DepthSubscriber"]
