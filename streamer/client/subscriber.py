"""DepthSubscriber: a small client for ZmqPublisher's stream, in latest-frame mode (wire format: WIRE.md).

    with DepthSubscriber("tcp://127.0.0.1:5555", topics=("depth",)) as sub:
        while True:
            msg = sub.recv(timeout=1.0)
            if msg is None:
                continue  # nothing new within 1 s
            topic, header, depth = msg  # float32 h x w relative inverse depth, bigger = nearer

Metric depth and point clouds ([metric] on) come as numpy arrays too, on topics asked for by name:

    with DepthSubscriber(address, topics=("metric", "points")) as sub:
        topic, header, payload = sub.recv(timeout=1.0) or (None, None, None)
        # "metric": float32 h x w metres (NaN invalid, +inf beyond range); header["intrinsics"], header["anchor"]
        # "points": {"xyz": N x 3 float32 (optical frame, metres), "rgb": N x 3 uint8}
        # "metric_sigma": float32 h x w, one sigma of "metric" in metres (same seq); computed only when asked for

What the metric map is worth rides in every header's `anchor` block: `sub.anchor` is the newest one received,
`sub.verdict` its verdict (good | uncertain | refused), with `verdict_reason` and `expected_abs_rel` in the block.

Latest-frame mode: each `recv` drains what has already arrived and returns the newest message of one topic;
older messages of the same topic are dropped (counted in `dropped`), so a slow reader lags by at most one message
per topic instead of falling further behind. A status heartbeat never hides a depth frame: topics are kept apart.
Needs only pyzmq, numpy and `streamer.publish.wire` (with `streamer.core.jsonlimit`: stdlib + numpy), so they can
be copied into other projects. No message part over `max_message_bytes` (256 MB) is taken (ZeroMQ MAXMSGSIZE).
"""
from __future__ import annotations

import time

import zmq

from streamer.publish.wire import TOPICS, Payload, decode

DRAIN_MIN_S = 0.05  # longest a recv(0) spends draining a burst
MAX_MESSAGE_BYTES = 256 << 20  # a float32 8K depth map is 133 MB: a part larger than this is no message of ours


class DepthSubscriber:
    """SUB socket connected to a ZmqPublisher; `recv(timeout)` returns the newest message or None."""

    def __init__(self, address: str = "tcp://127.0.0.1:5555", topics: tuple[str, ...] = TOPICS,
                 *, rcvhwm: int = 4, stream: str | None = None,
                 max_message_bytes: int = MAX_MESSAGE_BYTES) -> None:
        """`stream`: one stream of a daemon with several (its topics are `depth/ID`, ...): only its messages, each
        returned under its plain topic (`depth`); None: every message of `topics`, topics as sent."""
        self._ctx = zmq.Context()
        self._sock = self._ctx.socket(zmq.SUB)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.setsockopt(zmq.MAXMSGSIZE, max_message_bytes)
        self._sock.setsockopt(zmq.RCVHWM, rcvhwm)  # small: what queues up is stale anyway
        # Subscriptions are prefixes ("metric" also brings "metric_sigma", `depth/front` brings `depth/front2`):
        # received topics are checked against the topics (and the stream) asked for.
        self._topics = {t.encode() for t in topics}
        self._stream = stream.encode() if stream is not None else None
        for topic in topics:
            self._sock.setsockopt(zmq.SUBSCRIBE, topic.encode() + (b"/" + stream.encode() if stream else b""))
        self._sock.connect(address)
        self._pending: dict[bytes, list] = {}  # topic -> newest unread message, oldest arrival first
        self.received = 0
        self.dropped = 0  # messages replaced by a newer one of the same topic before being returned
        self.anchor: dict | None = None  # the newest `anchor` block of any header returned (metric on)

    def recv(self, timeout: float) -> tuple[str, dict, Payload] | None:
        """Newest message of the topic that has waited longest, or None if nothing arrived within `timeout` s."""
        if not self._pending and not self._sock.poll(int(timeout * 1000)):
            return None
        # Drain what is already here, keeping the newest per topic; bounded, so a publisher faster than we can
        # read can never keep us in here indefinitely (at most about twice `timeout` in all).
        deadline = time.monotonic() + max(timeout, DRAIN_MIN_S)
        while time.monotonic() < deadline:
            try:
                parts = self._sock.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                # The receive queue holds only `rcvhwm` messages; ZeroMQ refills it from the kernel's buffer
                # as we empty it. Give it a moment, so "newest" means newest received, not newest queued.
                if self._sock.poll(1):
                    continue
                break
            topic = parts[0].bytes
            base, _, sid = topic.partition(b"/")
            if self._stream is not None and sid != self._stream:
                continue  # another stream's (one whose id starts with ours)
            if base not in self._topics and b"" not in self._topics:
                continue  # a longer topic another client asked for
            self.received += 1
            if self._pending.pop(topic, None) is not None:
                self.dropped += 1
            self._pending[topic] = parts
        if not self._pending:
            return None
        topic = next(iter(self._pending))
        name, header, payload = decode(self._pending.pop(topic))
        if "anchor" in header:
            self.anchor = header["anchor"]
        return (name.partition("/")[0] if self._stream is not None else name), header, payload

    @property
    def verdict(self) -> str | None:
        """The newest anchor block's verdict on the metric map: good | uncertain | refused (None: none seen)."""
        return self.anchor.get("verdict") if self.anchor else None

    def close(self) -> None:
        self._sock.close(linger=0)
        self._ctx.term()

    def __enter__(self) -> DepthSubscriber:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
