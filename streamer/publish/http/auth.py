"""HTTP security helpers for the preview server: Basic/bearer auth, the CORS allow-list, header-safe text."""
from __future__ import annotations

import base64
import binascii
import hmac
from email.message import Message
from http.cookies import CookieError, SimpleCookie
from urllib.parse import quote, unquote, urlencode

from streamer.publish.http.options import HttpOptions

TOKEN_COOKIE = "depth_streamer_token"
# Where a browser may be sent back to after `?token=`: our own pages only, never a path that could leave the host.
LOGIN_TARGETS = frozenset({"/", "/stream.mjpg", "/snapshot.jpg", "/stats", "/healthz", "/metrics"})


def authorized(options: HttpOptions, authorization: str, cookie: str = "") -> bool:
    """Whether an `Authorization` header value (or the token cookie set by `token_login`) passes; always True when
    no credentials are configured.

    Compared with `hmac.compare_digest`, so response timing does not tell how much of a guess was right."""
    if not (options.auth_user or options.auth_token):
        return True
    if options.auth_token and cookie:
        jar = SimpleCookie()
        try:
            jar.load(cookie)
        except CookieError:
            jar = SimpleCookie()
        if TOKEN_COOKIE in jar:
            given = unquote(jar[TOKEN_COOKIE].value).encode("utf-8", "replace")
            if hmac.compare_digest(given, options.auth_token.encode()):
                return True
    scheme, _, cred = authorization.strip().partition(" ")
    cred_bytes = cred.strip().encode("latin-1", "replace")
    if options.auth_token and scheme.lower() == "bearer":
        return hmac.compare_digest(cred_bytes, options.auth_token.encode())
    if options.auth_user and scheme.lower() == "basic":
        try:
            given = base64.b64decode(cred_bytes, validate=True)
        except (binascii.Error, ValueError):
            return False
        return hmac.compare_digest(given, f"{options.auth_user}:{options.auth_password}".encode())
    return False


def token_login(options: HttpOptions, path: str, query: dict[str, list[str]]) -> tuple[str, str] | None:
    """A browser cannot send a bearer header: `?token=T` with the right token once returns (where to redirect, the
    Set-Cookie value) - the same page without the token in its URL, and an HttpOnly, SameSite=Strict cookie that
    authorizes what the page then loads. None when there is no such token or it is wrong (plain auth applies)."""
    given = query.get("token")
    if not options.auth_token or not given:
        return None
    if not hmac.compare_digest(given[0].encode("utf-8", "replace"), options.auth_token.encode()):
        return None
    rest = urlencode([(k, v) for k, values in query.items() if k != "token" for v in values])
    target = path if path in LOGIN_TARGETS else "/"
    cookie = f"{TOKEN_COOKIE}={quote(options.auth_token, safe='')}; Path=/; HttpOnly; SameSite=Strict"
    return target + (f"?{rest}" if rest else ""), cookie


def auth_help(options: HttpOptions) -> bytes:
    """The body of a 401: how to get in, for a person reading it in a browser."""
    if options.auth_user:
        return b"unauthorized: this server asks for a user name and password (HTTP Basic)\n"
    return (b"unauthorized: send 'Authorization: Bearer TOKEN', or, in a browser, open /?token=TOKEN once "
            b"(it sets a cookie and drops the token from the address)\n")


def auth_challenge(options: HttpOptions) -> str:
    """The `WWW-Authenticate` value of a 401: Basic when a user is configured, else bearer."""
    if options.auth_user:
        return 'Basic realm="depth-streamer", charset="UTF-8"'
    return 'Bearer realm="depth-streamer"'


def allowed_origin(options: HttpOptions, headers: Message | None) -> str | None:
    """The request's Origin if it is on the allow-list (exact match), else None: no CORS headers then.

    `headers` is None when the request head was never parsed (an error answered early)."""
    origin = headers.get("Origin") if headers is not None else None
    return origin if origin and origin in tuple(options.cors_origins) else None


def header_safe(text: str) -> str:
    """Printable ASCII only: a reason may carry anything, a header line may not."""
    return "".join(c if " " <= c <= "~" else "?" for c in text)[:200]
