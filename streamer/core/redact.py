"""The one redaction function: URLs and text shown anywhere (logs, /stats, /healthz, /metrics, ZeroMQ headers and
status, the no-signal frame, `--check`, error messages, sd_notify STATUS) go through `redact` first.

Userinfo (`user:password@`) is replaced whole, up to the LAST `@` before the path (a password may contain `@`),
and the values of the usual credential query keys become `***`. `redact_data` applies the same to a JSON-like
document and also masks the values of keys that name a secret (`auth_password`, `token`, ...);
`RedactingFormatter` applies it to every log line, tracebacks included.
"""
from __future__ import annotations

import functools
import logging
import re
from typing import Any

MASK = "***"
SECRET_KEYS = frozenset({"user", "username", "login", "password", "passwd", "pass", "pwd", "secret", "token",
                         "access_token", "auth", "authorization", "key", "apikey", "api_key", "sig", "signature",
                         "credential", "credentials", "session", "sessionid"})
# Words that make a longer key name a secret (`auth_password`, `bearer_token`, `client_secret`); not "user"/"key",
# which name harmless settings (`auth_user`, `sort_key`) as parts of longer names.
_SECRET_PARTS = frozenset({"password", "passwd", "pwd", "pass", "secret", "token", "apikey", "credential",
                           "credentials", "authorization"})

# Query keys whose value is a credential even inside a longer name (`X-Goog-Signature`, `clientSecret`,
# `X-Amz-Security-Token`, `AWSAccessKeyId`): matched as substrings of the lower-cased key.
_SECRET_WORDS = ("password", "passwd", "secret", "token", "signature", "credential", "apikey", "api_key",
                 "accesskey", "access_key", "sessionid", "session_id")
# HTTP headers that carry credentials, as free text ("Authorization: Basic ..."): the value is masked to the line end.
_CREDENTIAL_HEADER = re.compile(r"(?im)\b(?P<name>(?:proxy-)?authorization|cookie|set-cookie|x-api-key|"
                                r"x-auth-token)(?P<sep>\s*:\s*)(?P<value>[^\r\n]+)")
# Config keys whose value is a block of HTTP headers (FFmpeg's `headers` option): every header's value is masked.
HEADER_KEYS = frozenset({"headers", "http_headers"})

# scheme://userinfo@ where userinfo runs to the last "@" before the first "/", "?" or "#" after it.
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^/?#\s]*@)")
# key=value in a query string or free text: ?pwd=..., &token=..., ;password=...
_QUERY_SECRET = re.compile(r"(?P<sep>[?&;])(?P<key>[^=&;#\s/]+)=(?P<value>[^&;#\s]*)")


def redact(text: str) -> str:
    """`text` with every URL's userinfo and every credential query value replaced by `***`."""
    if not text or ("@" not in text and "=" not in text and ":" not in text):  # the common case, cheap
        return text
    out = _USERINFO.sub(lambda m: m.group("scheme") + MASK + "@", text)

    def query(m: re.Match) -> str:
        if is_secret_query_key(m.group("key")) and m.group("value"):
            return f"{m.group('sep')}{m.group('key')}={MASK}"
        return m.group(0)

    out = _QUERY_SECRET.sub(query, out)
    return _CREDENTIAL_HEADER.sub(lambda m: f"{m.group('name')}{m.group('sep')}{MASK}", out)


@functools.lru_cache(maxsize=1024)
def is_secret_query_key(name: str) -> bool:
    """Whether a URL query key names a credential: a secret key name, or one with a credential word inside."""
    key = name.lower().replace("-", "_")
    return is_secret_key(key) or any(word in key for word in _SECRET_WORDS)


def redact_headers(block: str) -> str:
    """A block of `Name: value` header lines with every value masked (names kept: they say what was set)."""
    lines = re.split(r"(\r\n|\n|\r)", block)
    return "".join(re.sub(r"^(\s*[^:\r\n]+:\s*)(.+)$", lambda m: m.group(1) + MASK, part) for part in lines)


def redact_secret(value: str) -> str:
    """A configured secret (password, token) as shown: `***` when set, "" when not."""
    return MASK if value else ""


@functools.lru_cache(maxsize=1024)  # a few dozen distinct field names; called per key of every header
def is_secret_key(name: str) -> bool:
    """Whether a setting or field called `name` holds a secret (its value is never shown)."""
    key = str(name).lower().replace("-", "_")
    return key in SECRET_KEYS or any(part in _SECRET_PARTS for part in key.split("_"))


def redact_data(value: Any) -> Any:
    """A copy of a JSON-like document (dicts, lists, strings, numbers) safe to show: every string redacted, and
    the string values of secret-named keys replaced by `***`."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: (redact_secret(v) if isinstance(v, str) and is_secret_key(k)
                    else redact_headers(v) if isinstance(v, str) and str(k).lower() in HEADER_KEYS
                    else redact_data(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact_data(v) for v in value)
    return value


class RedactingFormatter(logging.Formatter):
    """A log formatter whose every line (message, arguments and traceback) has passed through `redact`."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))
