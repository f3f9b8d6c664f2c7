"""`depth-streamer weights fetch|verify`: the official MiDaS v2.1 small weights."""
from __future__ import annotations

import argparse
from pathlib import Path

import streamer.cli.flags as flags


def register(sub: argparse._SubParsersAction) -> None:
    w = sub.add_parser("weights", help="fetch or verify the official MiDaS v2.1 small weights")
    wsub = w.add_subparsers(dest="weights_command", required=True)
    f = wsub.add_parser("fetch", help="download, verify (sha256) and atomically install the official weights")
    f.add_argument("--dest", type=Path, help="where to put the file (default: the cache/state directory)")
    f.add_argument("--url", default=None, help="download from here instead of the MiDaS GitHub release")
    f.add_argument("--timeout", type=flags.number(float, above=0, hi=3600), default=15.0,
                   help="network timeout in seconds")
    f.set_defaults(handler=cmd_weights_fetch)
    v = wsub.add_parser("verify", help="check a weights file's sha256 against the official one")
    v.add_argument("path", nargs="?", type=Path)
    v.set_defaults(handler=cmd_weights_verify)


def cmd_weights_fetch(args: argparse.Namespace) -> int:
    from streamer.model import weights

    dest = weights.fetch(args.dest, url=args.url or weights.WEIGHTS_URL, timeout=args.timeout)
    print(f"{dest}: sha256 {weights.WEIGHTS_SHA256} OK")
    return 0


def cmd_weights_verify(args: argparse.Namespace) -> int:
    from streamer.model import weights

    path = args.path or weights.resolve_weights_path()
    digest = weights.verify(path)
    print(f"{path}: sha256 {digest} OK (official MiDaS v2.1 small)")
    return 0
