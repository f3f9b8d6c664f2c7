"""FoxgloveHub: the one foxglove-sdk WebSocket server (and its private Context) every stream's FoxglovePublisher logs
to, each under its own `[ros] namespace`; started by the first publisher to open it, stopped by the last to close it
(so a reload that keeps some streams keeps the server and its clients). The listener counts each channel's
subscribers, so a channel nobody watches costs nothing."""
from __future__ import annotations

import logging
import threading

import foxglove

from streamer.publish.exposure import warn_if_exposed
from streamer.publish.foxglove_server import SDK_LOGGER, SdkLog, Subscriptions

log = logging.getLogger(__name__)


class FoxgloveHub:
    def __init__(self, host: str, port: int, backlog: int) -> None:
        self.host, self.port, self.backlog = host, port, backlog
        self.subs = Subscriptions()
        self.sdk_log = SdkLog()  # what the SDK drops for slow clients and how many connect (its log says it)
        self.context: foxglove.Context | None = None
        self.server: foxglove.WebSocketServer | None = None
        self.url = ""  # ws://host:port once listening
        self.app_url = ""  # the Foxglove web app's link that opens this server as its data source
        self._users = 0
        self._lock = threading.Lock()

    def open(self) -> None:
        """Start the server on the first call (OSError naming the failure), count the others."""
        with self._lock:
            if self._users == 0:
                sdk = logging.getLogger(SDK_LOGGER)
                sdk.addHandler(self.sdk_log)
                sdk.propagate = False  # read by SdkLog, which passes its warnings on
                sdk.setLevel(logging.INFO)
                self.context = foxglove.Context()
                try:
                    self.server = foxglove.start_server(name="depth-streamer", host=self.host, port=self.port,
                                                        server_listener=self.subs, context=self.context,
                                                        message_backlog_size=self.backlog)
                except RuntimeError as exc:  # the SDK's FoxgloveError: "Failed to bind port: Address already in use"
                    self.context = None
                    self._release_log()
                    raise OSError(str(exc)) from None
                self.url = f"ws://{self.host}:{self.server.port}"
                self.app_url = self.server.app_url() or ""
                log.info("foxglove: serving on %s (open in Foxglove: %s)", self.url, self.app_url)
                warn_if_exposed(log, f"foxglove: {self.url}", self.host,
                                "every depth image, the colorized camera view, the point cloud and the status "
                                "(pipeline and source details); the Foxglove WebSocket server has no authentication "
                                "here", 'Set [foxglove] host = "127.0.0.1" unless every machine on that network may '
                                        'see the camera.')
            self._users += 1

    @property
    def shared(self) -> bool:
        """More than one publisher logs to it (a channel on a common topic, /tf, is then theirs together)."""
        return self._users > 1

    def close(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users > 0 or self.server is None:
                return
            self.server.stop()
            self.server = None
            self._release_log()

    def _release_log(self) -> None:
        sdk = logging.getLogger(SDK_LOGGER)
        sdk.removeHandler(self.sdk_log)
        if not any(isinstance(h, SdkLog) for h in sdk.handlers):  # no other hub reads it
            sdk.propagate = True
