"""The cheap checks `run` makes before any heavy work (an ONNX export, a network warm-up, opening a camera): the
config is valid (checked when it is loaded), every listener's port can be bound, the weights file is there and, read
without torch, is an intact MiDaS v2.1 small checkpoint with finite values. Each failure is one line naming the
thing and the fix, within about a second of the start, however busy the machine.
"""
from __future__ import annotations

import socket
from typing import Any

from streamer.errors import ListenError
from streamer.model import ModelOptions
from streamer.model.layout import check_checkpoint
from streamer.model.weights import identify, resolve_weights_path


def listeners(conf: dict[str, Any]) -> list[tuple[str, str, int]]:
    """(section, host, port) of every listener this config opens; port 0 (any free port) never clashes."""
    wanted = [("http", conf["http"]), ("zmq", conf["zmq"])]
    if conf["daemon"].imagezmq:
        wanted.append(("imagezmq", conf["imagezmq"]))
    return [(section, o.host, o.port) for section, o in wanted if o.port]


def check_ports(conf: dict[str, Any]) -> None:
    """ListenError (exit 78) naming the section when a port is taken: bind it as the publisher will, and let go."""
    for section, host, port in listeners(conf):
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
            family, kind, proto, _, address = infos[0]
            with socket.socket(family, kind, proto) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as both servers do
                sock.bind(address)
        except OSError as exc:
            raise ListenError(f"cannot listen on {host}:{port} ([{section}] port): {exc}. Another depth-streamer "
                              f"(or another program) holds the port; choose another [{section}] port or stop the "
                              f"other process") from None


def check_weights_file(cli_path: str | None, options: ModelOptions) -> None:
    """WeightsError (exit 78) for a missing, damaged, foreign-layout or non-finite weights file, without torch."""
    file = identify(resolve_weights_path(cli_path, options.weights))
    if not file.official:  # the official file is known good by its sha256
        check_checkpoint(file.path)


def preflight(conf: dict[str, Any], weights: str | None) -> None:
    check_weights_file(weights, conf["model"])
    check_ports(conf)
