"""`depth-streamer calibrate`: camera intrinsics and distortion from a chessboard, printed as a [camera] block."""
from __future__ import annotations

import argparse
from pathlib import Path

import streamer.cli.flags as flags


def register(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("calibrate", help="camera intrinsics and distortion from a chessboard video or photo folder; "
                                         "prints a [camera] block")
    c.add_argument("input", type=Path, metavar="VIDEO_OR_DIR")
    c.add_argument("--board", required=True, help="inner corners COLSxROWS, e.g. 9x6 (a board of 10 x 7 squares)")
    c.add_argument("--square", required=True, type=flags.number(float, above=0, hi=100),
                   help="side of one square, metres")
    c.add_argument("--every", type=flags.number(int, 1, 100_000), default=5,
                   help="videos: use every n-th frame (default 5)")
    c.add_argument("--min-boards", dest="min_boards", type=flags.number(int, 3, 10_000), default=5,
                   help="refuse with fewer boards found")
    c.set_defaults(handler=cmd_calibrate)


def cmd_calibrate(args: argparse.Namespace) -> int:
    from streamer.geometry.calibrate import calibrate, parse_board, read_frames

    board = parse_board(args.board)  # before the frames are read: a board we cannot use fails in a second
    result = calibrate(read_frames(args.input, args.every), board, args.square,
                       min_boards=args.min_boards)
    print(result.toml())
    return 0
