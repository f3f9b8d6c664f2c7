"""`depth-streamer repair BAG`: the recorder's own crash repair for any MCAP bag cut short (a killed recorder)."""
from __future__ import annotations

import argparse
from pathlib import Path

from streamer.errors import StreamerError


def register(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser("repair", help="keep every complete message of an MCAP bag that was cut short (a rosbag2 "
                                      "folder is repaired in place; a bare .mcap file into NAME_repaired/)")
    r.add_argument("bag", type=Path, metavar="BAG")
    r.set_defaults(handler=cmd_repair)


def cmd_repair(args: argparse.Namespace) -> int:
    from streamer.record.splits import repair, rewrite

    bag: Path = args.bag
    if bag.is_dir():
        if not list(bag.glob("*.mcap")):
            raise StreamerError(f"repair {bag}: no .mcap file in this folder (only MCAP bags can be repaired)")
        print(repair(bag))
        return 0
    if bag.suffix != ".mcap" or not bag.is_file():
        raise StreamerError(f"repair {bag}: expected a rosbag2 folder or a .mcap file")
    target = bag.with_name(bag.stem + "_repaired")
    if target.exists():
        raise StreamerError(f"repair {bag}: {target} exists already; move it away first")
    try:
        count, span = rewrite(bag, target)
    except (OSError, ValueError, KeyError) as exc:
        raise StreamerError(f"repair {bag}: {exc}") from None
    print(f"{target}: {count} messages over {span:.1f} s kept from {bag}")
    return 0 if count else 1
