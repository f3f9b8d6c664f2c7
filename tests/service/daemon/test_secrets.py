"""No secret leaves the process: a daemon whose camera URL carries a password (userinfo with an '@' in it) and a
token (query string) shows neither on any channel - the log, /stats, /healthz, /metrics, the no-signal frame's
header, the ZeroMQ status topic (header and body), sd_notify STATUS - nor does `run --check` or an error message.

The camera is down (nothing listens on 127.0.0.1:9), so the URL and the reason it fails are on every channel.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, SEED_WEIGHTS, cli, subprocess_env

from .harness import DaemonProcess, NotifyListener

SECRETS = ("s3cr@t123", "tok456", "hunter2", "bearer789", "at789x", "cs456y", "gs123z", "QWxhZGRpbjpvcGVu")
# Credential-like query keys beyond the plain names: `auth_token`, `client_secret`, a signed URL's signature.
CAMERA = ("rtsp://admin:s3cr@t123@127.0.0.1:9/cam?token=tok456&channel=1&auth_token=at789x&client_secret=cs456y"
          "&X-Goog-Signature=gs123z")
SHOWN = ("rtsp://***@127.0.0.1:9/cam?token=***&channel=1&auth_token=***&client_secret=***"
         "&X-Goog-Signature=***")
HEADERS = r'source.av_options={headers = "Authorization: Basic QWxhZGRpbjpvcGVu\r\nX-Trace: \u0007on\r\n"}'


def assert_clean(text: str, channel: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} leaked on {channel}:\n{text[:2000]}"


@pytest.fixture(scope="module")
def daemon(daemon_cache) -> Iterator[tuple[DaemonProcess, NotifyListener]]:
    directory = Path(tempfile.mkdtemp(prefix="ds-notify-"))  # AF_UNIX paths are limited to 107 bytes
    notify = NotifyListener(directory)
    d = DaemonProcess("--set", "daemon.warmup_timeout_s=0", "--camera-id", "porch", "--set", HEADERS,
                      cache=daemon_cache,
                      source=CAMERA, env={"NOTIFY_SOCKET": notify.path}).start()
    try:
        d.wait_for(lambda: "READY=1" in notify.lines(), 90.0, "READY=1 (camera offline, reported)")
        d.wait_for(lambda: "offline" in d.http("/healthz")[2].decode(), 20.0, "/healthz saying offline")
        yield d, notify
    finally:
        d.kill()
        notify.close()
        shutil.rmtree(directory, ignore_errors=True)


def test_stats_and_healthz(daemon):
    d, _ = daemon
    stats = d.stats()
    assert stats["source"]["url"] == SHOWN
    assert "***@127.0.0.1:9" in stats["source"]["reason"]
    status, _, body = d.http("/stats")
    assert_clean(body.decode(), "/stats")
    status, _, body = d.http("/healthz")
    assert status == 503 and b"***@127.0.0.1:9" in body
    assert_clean(body.decode(), "/healthz")


def test_metrics(daemon):
    d, _ = daemon
    status, _, body = d.http("/metrics")
    assert status == 200 and b'depth_streamer_source_up{camera="porch"} 0.0' in body
    assert_clean(body.decode(), "/metrics")


def test_no_signal_frame(daemon):
    d, _ = daemon
    status, headers, body = d.http("/snapshot.jpg")
    assert status == 503 and body[:2] == b"\xff\xd8"
    assert "***@127.0.0.1:9" in headers["x-no-signal"]  # the reason drawn on the frame, as a header
    assert_clean(headers["x-no-signal"], "the no-signal frame")


def test_zmq_status_topic(daemon):
    d, _ = daemon
    topic, header, body = d.next_message(b"status")
    status = json.loads(body)
    assert status["state"] == "no_signal" and "***@127.0.0.1:9" in status["reason"]
    assert status["stats"]["source"]["url"] == SHOWN
    assert_clean(header.decode() + body.decode(), "the ZeroMQ status topic")


def test_sd_notify_status(daemon):
    d, notify = daemon
    d.wait_for(lambda: any(line.startswith("STATUS=offline") for line in notify.lines()), 10.0, "STATUS=offline")
    statuses = [line for line in notify.lines() if line.startswith("STATUS=")]
    assert any("***@127.0.0.1:9" in line for line in statuses), statuses
    assert_clean("\n".join(notify.lines()), "sd_notify")


def test_log(daemon):
    d, _ = daemon
    d.wait_log(r"\*\*\*@127\.0\.0\.1:9", 10.0)
    assert_clean(d.log, "the log")


def test_check_and_error_messages(daemon_cache):
    env = subprocess_env(DEPTH_STREAMER_CACHE=str(daemon_cache))

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(cli("run", "--weights", str(SEED_WEIGHTS), *args), cwd=REPO, env=env,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)

    check = run("--check", "--source", CAMERA, "--set", "http.auth_user=ana", "--set", "http.auth_password=hunter2",
                "--set", "http.auth_token=bearer789", "--set", HEADERS.replace("{", "{password = 'hunter2', ", 1))
    assert check.returncode == 0, check.stderr
    shown = tomllib.loads(check.stdout)  # valid TOML, control characters and all (they were printed raw)
    assert_clean(check.stdout + check.stderr, "run --check")
    assert f'url = "{SHOWN}"' in check.stdout
    assert re.search(r'^auth_password = "\*\*\*"$', check.stdout, re.M)
    assert re.search(r'^auth_token = "\*\*\*"$', check.stdout, re.M)
    assert shown["source"]["av_options"] == {"password": "***", "headers": "Authorization: ***\r\nX-Trace: ***\r\n"}
    assert 'auth_user = "ana"' in check.stdout  # a user name is not a secret

    no_host = run("--check", "--source", "rtsp://admin:s3cr@t123@/cam?token=tok456")
    assert no_host.returncode == 78 and "no host" in no_host.stderr, no_host.stderr
    assert "rtsp://***@/cam?token=***" in no_host.stderr
    wrong_type = run("--check", "--set", "http.auth_password=[1, 'hunter2']")
    assert wrong_type.returncode == 78 and "auth_password" in wrong_type.stderr, wrong_type.stderr
    for done in (no_host, wrong_type):
        assert_clean(done.stdout + done.stderr, "an error message")
        assert "Traceback" not in done.stderr


def test_stop(daemon):
    d, _ = daemon
    t0 = time.monotonic()
    rc, _ = d.stop()
    assert rc == 0 and time.monotonic() - t0 < 5
    assert_clean(d.log, "the log, through shutdown")
