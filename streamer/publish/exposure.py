"""Listeners bound beyond this machine: say in the log, at start, what anyone who can reach them gets.

Every listener binds 127.0.0.1 unless the config says otherwise. When it says otherwise and nothing asks for
credentials (ZeroMQ and imagezmq never do; the HTTP preview only with auth set), the operator must read, once and
plainly, what is now exposed - not discover it later.
"""
from __future__ import annotations

import ipaddress
import logging
import socket

WILDCARDS = frozenset({"", "*", "0.0.0.0", "::", "[::]"})


def is_loopback(host: str) -> bool:
    """Whether binding `host` keeps a listener on this machine: a loopback address, or a name that resolves only
    to loopback addresses. Wildcards and names that do not resolve count as exposed."""
    host = host.strip().strip("[]")
    if host in WILDCARDS:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return False
    return bool(infos) and all(ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_loopback for info in infos)


def warn_if_exposed(log: logging.Logger, where: str, host: str, exposed: str, fix: str) -> bool:
    """Log a warning naming what `where` (e.g. "http://0.0.0.0:8080/") gives to anyone who can reach it, and how to
    close it, unless `host` is loopback. Returns whether it warned."""
    if is_loopback(host):
        return False
    log.warning("%s is reachable from other machines WITHOUT authentication: anyone who can connect gets %s. %s",
                where, exposed, fix)
    return True
