"""`depth-streamer view` takes its bearer token from a file or the environment, never from the command line (which
every user reads in `ps`); the token it reads is the one a protected MJPEG server accepts."""
from __future__ import annotations

import logging
import time

import pytest

from streamer.cli import build_parser, main
from streamer.cli.view import TOKEN_ENV, view_token
from streamer.client.viewer import open_reader
from streamer.errors import ConfigError
from streamer.publish.http.options import HttpOptions
from streamer.publish.http.publisher import HttpPublisher

URL = "http://127.0.0.1:9/stream.mjpg"


def parse(*argv: str):
    return build_parser().parse_args(["view", *argv])


def test_token_from_a_file_or_the_environment(tmp_path, monkeypatch):
    path = tmp_path / "token"
    path.write_text("tok-123\n")
    monkeypatch.setenv(TOKEN_ENV, "from-env")
    assert view_token(parse(URL, "--token-file", str(path))) == "tok-123"  # the file wins, newline stripped
    assert view_token(parse(URL)) == "from-env"
    monkeypatch.delenv(TOKEN_ENV)
    assert view_token(parse(URL)) is None


def test_unreadable_or_empty_token_file(tmp_path):
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ConfigError, match="empty"):
        view_token(parse(URL, "--token-file", str(tmp_path / "empty")))
    with pytest.raises(ConfigError, match="cannot read"):
        view_token(parse(URL, "--token-file", str(tmp_path / "missing")))


def test_token_on_the_command_line_is_refused_and_not_advertised(caplog, capsys):
    with caplog.at_level(logging.ERROR):
        assert main(["view", URL, "--token", "tok-123"]) == 78
    assert "visible" in caplog.text and "--token-file" in caplog.text and "tok-123" not in caplog.text
    with pytest.raises(SystemExit):
        main(["view", "--help"])
    out = capsys.readouterr().out
    assert "--token-file" in out and "--token " not in out and TOKEN_ENV in out


def test_the_token_read_opens_a_protected_stream(tmp_path, renderer, feeder):
    path = tmp_path / "token"
    path.write_text("tok-123")
    srv = HttpPublisher(HttpOptions(port=0, auth_token="tok-123"), renderer=renderer)
    srv.start()
    try:
        url = "http://%s:%d/stream.mjpg" % srv.address
        reader = open_reader(url, token=view_token(parse(url, "--token-file", str(path))))
        reader.open()
        try:
            with feeder(srv.publish, fps=30):
                deadline = time.monotonic() + 5
                while (image := reader.read(0.2)) is None:
                    assert time.monotonic() < deadline, "no frame through the token-protected stream"
            assert image.shape == (48, 64, 3)
        finally:
            reader.close()
    finally:
        srv.stop(2.0)
