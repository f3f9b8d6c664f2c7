"""The one redaction function: userinfo (even with '@' in the password) and credential query values."""
from __future__ import annotations

import pytest

from streamer.core.redact import redact


@pytest.mark.parametrize("raw, shown", [
    ("rtsp://admin:secret123@127.0.0.1:9/cam", "rtsp://***@127.0.0.1:9/cam"),
    ("rtsp://admin:p@ssw0rd@host/s", "rtsp://***@host/s"),
    ("http://cam/video?user=admin&pwd=secret123&channel=1", "http://cam/video?user=***&pwd=***&channel=1"),
    ("https://h/x?token=abc#frag", "https://h/x?token=***#frag"),
    ("https://h/x?api-key=abc", "https://h/x?api-key=***"),
    ("cannot open rtsp://u:pw@h:554/s: Connection refused", "cannot open rtsp://***@h:554/s: Connection refused"),
    ("/videos/a.mp4", "/videos/a.mp4"),
    ("demo", "demo"),
    ("rtsp://host/path/with@sign", "rtsp://host/path/with@sign"),
    ("http://h/a?page=2&view=depth", "http://h/a?page=2&view=depth"),
])
def test_redact(raw, shown):
    assert redact(raw) == shown


def test_no_secret_survives_in_any_case():
    for secret in ("secret123", "p@ssw0rd"):
        assert secret not in redact(f"rtsp://admin:{secret}@h/x?password={secret}")


def test_secret_keys_and_documents():
    from streamer.core.redact import is_secret_key, redact_data

    assert all(is_secret_key(k) for k in ("auth_password", "auth_token", "PASSWORD", "api-key", "client_secret"))
    assert not any(is_secret_key(k) for k in ("auth_user", "url", "camera_id", "weights_sha256", "unauthorized"))
    doc = {"url": "rtsp://a:b@h/x", "auth_token": "t0k", "n": 3, "list": ["http://h/?pwd=p"], "empty_token": ""}
    assert redact_data(doc) == {"url": "rtsp://***@h/x", "auth_token": "***", "n": 3, "list": ["http://h/?pwd=***"],
                                "empty_token": ""}


def test_log_lines_and_tracebacks_are_redacted():
    import logging
    import sys

    from streamer.core.redact import RedactingFormatter

    try:
        raise OSError("cannot open rtsp://admin:secret123@h/x")
    except OSError:
        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "opening %s", ("http://h/?token=abc",),
                                   sys.exc_info())
    line = RedactingFormatter("%(message)s").format(record)
    assert "secret123" not in line and "token=abc" not in line
    assert "token=***" in line and "rtsp://***@h/x" in line and "Traceback" in line


@pytest.mark.parametrize("raw, shown", [
    ("https://b.example/o?X-Goog-Signature=abc&X-Goog-Date=2026", "https://b.example/o?X-Goog-Signature=***&X-Goog-Date=2026"),
    ("http://h/s?auth_token=a1&client_secret=c2&clientSecret=c3", "http://h/s?auth_token=***&client_secret=***&clientSecret=***"),
    ("https://s3/x?X-Amz-Credential=K%2F1&X-Amz-Security-Token=T&X-Amz-Signature=S&X-Amz-Expires=60",
     "https://s3/x?X-Amz-Credential=***&X-Amz-Security-Token=***&X-Amz-Signature=***&X-Amz-Expires=60"),
    ("header Authorization: Basic dXNlcjpwYXNz\r\nAccept: */*", "header Authorization: ***\r\nAccept: */*"),
    ("cookie: sid=abc; theme=dark", "cookie: ***"),
    ("ratio 16:9 at 12:00", "ratio 16:9 at 12:00"),
])
def test_secret_like_query_keys_and_credential_headers(raw, shown):
    assert redact(raw) == shown


def test_header_blocks_have_every_value_masked():
    from streamer.core.redact import redact_data

    doc = {"av_options": {"headers": "Authorization: Basic abc\r\nX-Api: k\n", "probesize": "32"}}
    assert redact_data(doc) == {"av_options": {"headers": "Authorization: ***\r\nX-Api: ***\n", "probesize": "32"}}
