"""A real Foxglove WebSocket client for the tests and `bench outputs`: `websockets` speaking foxglove.sdk.v1.

It reads the server's `serverInfo` and `advertise` messages, subscribes to channels by topic, and decodes every
binary MessageData frame with the schema the server advertised for its channel: protobuf schemas (a base64
FileDescriptorSet, what the SDK's well-known types use) through google.protobuf, JSON schemas as JSON. Nothing
about the server is assumed beyond the protocol. `websockets` comes with the [test] extra.
"""
from __future__ import annotations

import base64
import json
import struct
import time
from dataclasses import dataclass, field

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import Message
from websockets.sync.client import connect
from websockets.typing import Subprotocol

from streamer.core import jsonlimit

SUBPROTOCOL = "foxglove.sdk.v1"
OP_MESSAGE_DATA = 0x01


@dataclass
class Received:
    topic: str
    log_time: int  # nanoseconds, the message's log time
    schema_name: str
    message: object  # a protobuf message, or the decoded JSON
    size: int


@dataclass
class FoxgloveClient:
    url: str
    timeout: float = 10.0
    close_timeout: float = 10.0  # a client that stopped reading never answers the close handshake: keep it short
    channels: dict[int, dict] = field(default_factory=dict)  # channel id -> the advertised channel
    server_info: dict = field(default_factory=dict)
    statuses: dict[str, dict] = field(default_factory=dict)  # the server's status notices by id (op "status")
    subprotocol: str | None = None

    def __post_init__(self) -> None:
        self._connection = connect(self.url, subprotocols=[Subprotocol(SUBPROTOCOL)], open_timeout=self.timeout,
                                   close_timeout=self.close_timeout, max_size=None)
        self.ws = self._connection.__enter__()  # a stalled client: its library stops reading after max_queue
        self.subprotocol = self.ws.subprotocol
        self._subs: dict[int, int] = {}  # subscription id -> channel id
        self._classes: dict[int, type[Message]] = {}
        self._pending: list[Received] = []

    def close(self) -> None:
        self._connection.__exit__(None, None, None)

    def __enter__(self) -> FoxgloveClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def topics(self) -> dict[str, dict]:
        return {c["topic"]: c for c in self.channels.values()}

    def wait_status(self, check, timeout: float | None = None) -> None:  # noqa: ANN001 -- a predicate on statuses
        """Read control messages until `check(self.statuses)` holds."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while not check(self.statuses):
            left = deadline - time.monotonic()
            assert left > 0, f"status notices not as expected within the timeout: {self.statuses}"
            self._read(left)

    def wait_topics(self, topics: set[str], timeout: float | None = None) -> None:
        """Read control messages until every topic in `topics` is advertised."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while not topics <= set(self.topics()):
            left = deadline - time.monotonic()
            assert left > 0, f"not advertised within the timeout: {sorted(topics - set(self.topics()))}; " \
                             f"advertised: {sorted(self.topics())}"
            self._read(left)

    def subscribe(self, topics: list[str]) -> None:
        by_topic = self.topics()
        subs = []
        for topic in topics:
            sub_id = len(self._subs) + 1
            self._subs[sub_id] = by_topic[topic]["id"]
            subs.append({"id": sub_id, "channelId": by_topic[topic]["id"]})
        self.ws.send(json.dumps({"op": "subscribe", "subscriptions": subs}))

    def unsubscribe_all(self) -> None:
        self.ws.send(json.dumps({"op": "unsubscribe", "subscriptionIds": list(self._subs)}))
        self._subs.clear()

    def receive(self, timeout: float | None = None) -> Received | None:
        """The next decoded message on a subscribed channel, or None after `timeout` s."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while not self._pending:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self._read(left)
        return self._pending.pop(0)

    def collect(self, want: dict[str, int], timeout: float | None = None) -> dict[str, list[Received]]:
        """Receive until each topic in `want` has that many messages; AssertionError naming what is missing."""
        got: dict[str, list[Received]] = {t: [] for t in want}
        deadline = time.monotonic() + (timeout or self.timeout)
        while any(len(got[t]) < n for t, n in want.items()):
            left = deadline - time.monotonic()
            assert left > 0, f"within the timeout got only {({t: len(v) for t, v in got.items()})}"
            msg = self.receive(left)
            if msg is not None and msg.topic in got:
                got[msg.topic].append(msg)
        return got

    # -- the protocol --------------------------------------------------------------------------------------------
    def _read(self, timeout: float) -> None:
        try:
            data = self.ws.recv(timeout=max(0.01, timeout))
        except TimeoutError:
            return
        if isinstance(data, str):
            self._control(jsonlimit.loads(data, what="control message"))
            return
        if data[0] != OP_MESSAGE_DATA:
            return
        sub_id, log_time = struct.unpack_from("<IQ", data, 1)
        channel_id = self._subs.get(sub_id)
        if channel_id is None:  # a message for a subscription we just dropped
            return
        payload = data[13:]
        channel = self.channels[channel_id]
        self._pending.append(Received(channel["topic"], log_time, channel["schemaName"],
                                      self._decode(channel, payload), len(payload)))

    def _control(self, msg: dict) -> None:
        op = msg.get("op")
        if op == "serverInfo":
            self.server_info = msg
        elif op == "advertise":
            for channel in msg["channels"]:
                self.channels[channel["id"]] = channel
        elif op == "status":
            self.statuses[msg.get("id", "")] = msg
        elif op == "removeStatus":
            for sid in msg["statusIds"]:
                self.statuses.pop(sid, None)
        elif op == "unadvertise":
            for cid in msg["channelIds"]:
                self.channels.pop(cid, None)

    def _decode(self, channel: dict, payload: bytes) -> object:
        encoding = channel["encoding"]
        if encoding == "json":
            return jsonlimit.loads(payload, what="json message")
        assert encoding == "protobuf", f"unexpected message encoding {encoding!r} on {channel['topic']}"
        cls = self._classes.get(channel["id"])
        if cls is None:
            assert channel.get("schemaEncoding") == "protobuf", channel
            fds = descriptor_pb2.FileDescriptorSet.FromString(base64.b64decode(channel["schema"]))
            pool = descriptor_pool.DescriptorPool()
            for fd in fds.file:
                pool.Add(fd)
            cls = message_factory.GetMessageClass(pool.FindMessageTypeByName(channel["schemaName"]))
            self._classes[channel["id"]] = cls
        return cls.FromString(payload)
