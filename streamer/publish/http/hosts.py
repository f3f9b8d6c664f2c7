"""Which `Host` a request to the preview may name: the DNS-rebinding guard.

A web page the user visits can make its own host name resolve to 127.0.0.1 and then read our answers as
same-origin; the one thing it cannot change is the `Host` header, which carries its name. So without auth only
names of this listener are served: loopback names (`localhost`, `*.localhost`), IP literals (a rebinding needs a
name, never a bare address; a listener on a specific address takes only that one, and loopback), this machine's own
host name when it listens beyond loopback, and the names in `http.allowed_hosts` (exact, or `.example.lan` for a
whole domain). Anything else gets 421. With auth set, credentials guard every endpoint and any Host is fine.
"""
from __future__ import annotations

import functools
import ipaddress
import socket

from streamer.publish.http.options import HttpOptions

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
WILDCARDS = frozenset({"0.0.0.0", "::", ""})


def host_name(header: str) -> str:
    """The name in a Host header value, without its port, lower-cased, no trailing dot ("[::1]:80" -> "::1")."""
    value = header.strip().lower()
    if value.startswith("["):
        return value[1:value.find("]")] if "]" in value else value
    if value.count(":") == 1:
        value = value.split(":", 1)[0]
    return value.rstrip(".")


def _ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


@functools.lru_cache(maxsize=1)
def own_names() -> frozenset[str]:
    names = {socket.gethostname().lower()}
    names.add(names.copy().pop().split(".")[0])
    return frozenset(n for n in names if n)


def host_allowed(options: HttpOptions, header: str | None) -> bool:
    """Whether a request naming `header` (None: no Host header, which no browser sends) may be served."""
    if options.auth_user or options.auth_token or header is None:
        return True
    name = host_name(header)
    if name in LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    ip = _ip(name)
    if ip is not None:
        bound = _ip(options.host)
        return options.host in WILDCARDS or ip.is_loopback or (bound is not None and ip == bound)
    for allowed in options.allowed_hosts:
        allowed = allowed.lower().rstrip(".")
        if name == allowed or (allowed.startswith(".") and name.endswith(allowed)):
            return True
    bound = _ip(options.host)
    listens_beyond_loopback = options.host in WILDCARDS or bound is None or not bound.is_loopback
    return listens_beyond_loopback and name in own_names()


def misdirected(header: str) -> str:
    """The 421 answer's one line."""
    return (f"Host {host_name(header)!r} does not name this server; without auth only its own names are served "
            f"(DNS-rebinding guard). Add it to http.allowed_hosts, or set http.auth_token / auth_user")
