"""Network settings checked before anything binds: a listen host must be an IP address or a name that resolves, a
ZeroMQ address must parse, and no two enabled listeners may share a port (port 0 = any free port never clashes)."""
from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Sequence

WILDCARDS = frozenset({"0.0.0.0", "::", "*"})
_HOSTNAME = re.compile(r"(?=.{1,253}$)([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.?)+")


def host_problem(host: str, *, star: bool = False) -> str | None:
    """Why `host` cannot be listened on, or None. `star`: ZeroMQ's "*" (every interface) is accepted too."""
    text = host.strip()
    if not text:
        return 'is empty; use 127.0.0.1 (this machine only) or 0.0.0.0 (every interface)'
    if text == "*":
        return None if star else 'is not an address; use 0.0.0.0 for every interface'
    try:
        ipaddress.ip_address(text.strip("[]"))
        return None
    except ValueError:
        pass
    if re.fullmatch(r"[\d.]+", text):
        return "is not a valid IPv4 address (four numbers 0-255, e.g. 127.0.0.1)"
    if not _HOSTNAME.fullmatch(text):
        return "is neither an IP address nor a host name"
    try:
        socket.getaddrinfo(text, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        return f"is not an IP address and does not resolve ({getattr(exc, 'strerror', None) or exc})"
    return None


def zmq_endpoint(host: str, port: int) -> str:
    """The ZeroMQ address that binds host:port: 0.0.0.0 (or *) is every interface, port 0 any free port."""
    return f"tcp://{'*' if host in ('*', '0.0.0.0') else host}:{port or '*'}"


def zmq_endpoint_problem(endpoint: str) -> str | None:
    """Why a ZeroMQ bind address (tcp://HOST:PORT or ipc://PATH) cannot be bound, or None: every ZeroMQ socket the
    daemon binds is checked here, before anything starts. HOST as `host_problem` (with ZeroMQ's "*"); PORT 0-65535
    or "*" (any free port)."""
    scheme, sep, rest = endpoint.strip().partition("://")
    if not sep or scheme not in ("tcp", "ipc"):
        return "expected tcp://HOST:PORT or ipc://PATH"
    if scheme == "ipc":
        return None if rest else "no path after ipc://"
    host, colon, port = rest.rpartition(":")
    if not colon or not host or not port:
        return "expected tcp://HOST:PORT, e.g. tcp://127.0.0.1:5557"
    if port != "*" and not (port.isdigit() and int(port) <= 65535):
        return f"port {port!r} is not a number 0-65535 (or * for any free port)"
    problem = host_problem(host, star=True)
    return f"host {host} {problem}" if problem else None


def check_zmq_bind(host: str, port: int) -> None:
    """The ZeroMQ publishers' validate(): a ValueError naming `host` when tcp://host:port cannot be bound."""
    problem = zmq_endpoint_problem(zmq_endpoint(host, port))
    if problem:
        raise ValueError(f"host = {host!r}: {problem}")


def _overlap(a: str, b: str) -> bool:
    """Whether two listen hosts can hold the same port number against each other."""
    a, b = a.strip().strip("[]"), b.strip().strip("[]")
    if a == b or a in WILDCARDS or b in WILDCARDS:
        return True
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return True  # a name: it may well be the same interface


def port_clash(listeners: Sequence[tuple[str, str, int]]) -> str | None:
    """For (key, host, port) of every enabled listener: why two of them collide, or None."""
    for i, (key_a, host_a, port_a) in enumerate(listeners):
        for key_b, host_b, port_b in listeners[i + 1:]:
            if port_a and port_a == port_b and _overlap(host_a, host_b):
                return (f"{key_a} and {key_b} are both {port_a}: two listeners cannot share a port; choose another "
                        f"for one of them (0 = any free port)")
    return None
