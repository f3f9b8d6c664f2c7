"""`depth-streamer view`: a preview window for a running daemon (ZeroMQ or MJPEG)."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from streamer.errors import ConfigError, StreamerError
from streamer.render.views import VIEWS

TOKEN_ENV = "DEPTH_STREAMER_TOKEN"  # the viewer's bearer token (or --token-file); never a command-line value


def register(sub: argparse._SubParsersAction) -> None:
    vw = sub.add_parser("view", help="preview window for a running daemon (ZeroMQ or MJPEG URL)")
    vw.add_argument("address", nargs="?", default="http://127.0.0.1:8080/stream.mjpg",
                    help="tcp://HOST:PORT (ZeroMQ color topic) or http://HOST:PORT/stream.mjpg")
    vw.add_argument("--view", choices=VIEWS)
    vw.add_argument("--token-file", dest="token_file", type=Path,
                    help=f"file holding the bearer token of a protected MJPEG server (default: ${TOKEN_ENV})")
    vw.add_argument("--token", help=argparse.SUPPRESS)  # refused: a token on the command line is visible in `ps`
    vw.set_defaults(handler=cmd_view)


def view_token(args: argparse.Namespace) -> str | None:
    """The viewer's bearer token: from --token-file, else $DEPTH_STREAMER_TOKEN, else None. Never from the command
    line itself, where every user on the machine reads it in `ps`."""
    if args.token is not None:
        raise ConfigError(f"--token is refused: the command line is visible to every user in `ps`; put the token in "
                          f"a file readable only by you and pass --token-file PATH, or set ${TOKEN_ENV}")
    if args.token_file is not None:
        try:
            token = args.token_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            why = getattr(exc, "strerror", None) or exc
            raise ConfigError(f"--token-file {args.token_file}: cannot read it ({why})") from None
        if not token:
            raise ConfigError(f"--token-file {args.token_file} is empty")
        return token
    return os.environ.get(TOKEN_ENV) or None


def cmd_view(args: argparse.Namespace) -> int:
    from streamer.client.viewer import ViewerError, run_viewer

    token = view_token(args)
    try:
        return int(run_viewer(args.address, view=args.view, token=token) or 0)
    except ViewerError as exc:
        raise StreamerError(str(exc)) from None
