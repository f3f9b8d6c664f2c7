"""The one redaction function: URLs and text shown anywhere (logs, /stats, /healthz, /metrics, ZeroMQ headers and
status, the no-signal frame, `--check`, error messages, sd_notify STATUS) go through `redact` first.

Userinfo (`user:password@`) is replaced whole, up to the LAST `@` before the path (a password may contain `@`),
and the values of the usual credential query keys become `***`.
"""
from __future__ import annotations

import re

MASK = "***"
SECRET_KEYS = frozenset({"user", "username", "login", "password", "passwd", "pass", "pwd", "secret", "token",
                         "access_token", "auth", "authorization", "key", "apikey", "api_key", "sig", "signature",
                         "credential", "credentials", "session", "sessionid"})

# scheme://userinfo@ where userinfo runs to the last "@" before the first "/", "?" or "#" after it.
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^/?#\s]*@)")
# key=value in a query string or free text: ?pwd=..., &token=..., ;password=...
_QUERY_SECRET = re.compile(r"(?P<sep>[?&;])(?P<key>[^=&;#\s/]+)=(?P<value>[^&;#\s]*)")


def redact(text: str) -> str:
    """`text` with every URL's userinfo and every credential query value replaced by `***`."""
    if not text:
        return text
    out = _USERINFO.sub(lambda m: m.group("scheme") + MASK + "@", text)

    def query(m: re.Match) -> str:
        key = m.group("key")
        if key.lower().replace("-", "_") in SECRET_KEYS and m.group("value"):
            return f"{m.group('sep')}{key}={MASK}"
        return m.group(0)

    return _QUERY_SECRET.sub(query, out)


def redact_secret(value: str) -> str:
    """A configured secret (password, token) as shown: `***` when set, "" when not."""
    return MASK if value else ""

