"""HTTP security helpers for the preview server: Basic/bearer auth, the CORS allow-list, header-safe text."""
from __future__ import annotations

import base64
import binascii
import hmac
from email.message import Message

from streamer.publish.http.options import HttpOptions


def authorized(options: HttpOptions, authorization: str) -> bool:
    """Whether an `Authorization` header value passes; always True when no credentials are configured.

    Compared with `hmac.compare_digest`, so response timing does not tell how much of a guess was right."""
    if not (options.auth_user or options.auth_token):
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
