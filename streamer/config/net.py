"""Network settings checked before anything binds: a listen host must be an IP address or a name that resolves, and
no two enabled listeners may share a port (port 0 = any free port never clashes)."""
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
