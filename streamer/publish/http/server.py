"""HttpServer: the preview's threaded HTTP server; caps open connections and cuts them all at stop."""
from __future__ import annotations

import logging
import socketserver
from http.server import ThreadingHTTPServer

from streamer.publish.http.app import PreviewApp
from streamer.publish.http.connections import ConnectionTable

log = logging.getLogger(__name__)


class HttpServer(ThreadingHTTPServer):
    """Threaded server that caps connections (see `connections`) and can cut every open one at stop."""

    daemon_threads = True
    request_queue_size = 32
    app: PreviewApp  # set by the publisher that owns the server

    def __init__(self, *args: object, max_connections: int = 64, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.conns = ConnectionTable(max_connections)

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)  # HTTPServer's version does a reverse DNS lookup: skip it
        host, self.server_port = self.server_address[:2]
        self.server_name = str(host)  # an AF_INET/AF_INET6 socket name: always text

    def process_request(self, request, client_address) -> None:
        if self.conns.admit(request) == "full":
            # Answered here, on the accept thread, with a short timeout: no handler thread for a connection
            # we refuse, so a flood cannot exhaust threads.
            self.app.count("rejected_connections")
            try:
                request.settimeout(0.5)
                request.sendall(b"HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\nRetry-After: 5\r\n\r\n")
            except OSError:
                pass
            super().shutdown_request(request)
            return
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:
        self.conns.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Shut down every open socket, so handler threads blocked in a read or write return at once."""
        self.conns.shut_all()

    def handle_error(self, request, client_address) -> None:
        log.debug("http: connection from %s ended with an error", client_address, exc_info=True)
