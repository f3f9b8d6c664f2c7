"""`depth-streamer` command line. Every sub-command is a module here with `register(sub)`, which adds its parser and
sets its handler; the flags several share (--config, --set, --weights, --precision) are declared once in flags.py.
Handlers import what they run when they run (`--help` loads no network library)."""
from __future__ import annotations

import argparse
import logging
import os
import sys

from streamer.cli import batch, bench, calibrate, infer, quantize, repair, run, train, view, weights
from streamer.cli.flags import OneLineParser
from streamer.errors import EXIT_RUNTIME, StreamerError

log = logging.getLogger("streamer")
COMMANDS = (infer, batch, quantize, weights, run, view, bench, train, calibrate, repair)  # in `--help` order


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.log_level)
    try:
        return int(args.handler(args) or 0)
    except StreamerError as exc:
        log.error("%s", exc)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a failure nobody foresaw is still one line; the traceback is for --log-level debug
        log.debug("traceback", exc_info=True)
        log.error("%s failed: %s: %s (run with --log-level debug for the traceback)", args.command,
                  type(exc).__name__, " ".join(str(exc).split())[:300])
        return EXIT_RUNTIME


def setup_logging(level: str) -> None:
    # Under systemd (JOURNAL_STREAM set) the journal adds its own timestamps; a terminal wants them.
    from streamer.core.redact import RedactingFormatter

    fmt = "%(levelname)s %(name)s: %(message)s" if os.environ.get("JOURNAL_STREAM") else \
        "%(asctime)s %(levelname)s %(name)s: %(message)s"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter(fmt))  # no credential reaches the journal, whoever logs it
    logging.basicConfig(level=getattr(logging, level.upper()), handlers=[handler])


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="depth-streamer",
                                     description="Real-time monocular depth daemon (MiDaS small).")
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(sub)
    return parser


if __name__ == "__main__":
    sys.exit(main())
