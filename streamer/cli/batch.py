"""`depth-streamer batch INPUT... --out DIR`: depth for whole recordings (bags, videos, image folders), on this
machine's cores or on a Ray cluster; see streamer/batch/."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import streamer.cli.flags as flags
from streamer.errors import EXIT_RUNTIME, ConfigError
from streamer.render.views import VIEWS

log = logging.getLogger("streamer")
BATCH_FLAGS = (*flags.MODEL_FLAGS, ("workers", "batch.workers"), ("segment_s", "batch.segment_s"),
               ("warmup_s", "batch.warmup_s"), ("points", "batch.points"), ("view", "batch.view"),
               ("raw", "batch.raw"))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("batch", help="depth for whole recordings: a bag in, the same bag with depth topics out; "
                                     "videos and images as `infer`; on local worker processes or a Ray cluster")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="ROS 2 bag folders, .mcap/.db3 files, videos, image "
                   "files or folders, globs, or @FILE (one input a line)")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="where outputs and the manifest go "
                   "(checked before any work; a re-run skips what is done)")
    p.add_argument("--topic", default="", help="bags: the image topic (default: the only one)")
    p.add_argument("--executor", choices=("local", "ray"), default="local")
    p.add_argument("--ray-address", default="auto", metavar="auto|HOST:PORT",
                   help="--executor ray: the cluster to join (auto: the one running on this machine)")
    # the bounds of [batch] (streamer/batch/options.py): 0 workers = sized to the cores, segment 0 = whole inputs
    p.add_argument("--workers", type=flags.number(int, 0, 256),
                   help="local executor: worker processes ([batch] workers; 0 = one per 2 cores)")
    p.add_argument("--segment-s", type=flags.number(float, 0, 86400),
                   help="cut longer bags into segments of about this many seconds (0 = one unit per input)")
    p.add_argument("--warmup-s", type=flags.number(float, 0, 600),
                   help="seconds each segment runs before its start, discarded")
    p.add_argument("--points", action="store_const", const=True, help="bags: also PointCloud2 (metric depth on)")
    p.add_argument("--view", choices=VIEWS, help="videos: what the depth video shows")
    p.add_argument("--raw", action="store_const", const=True, help="videos: also <stem>.depth.npz")
    flags.add_weights(p)
    flags.add_config(p, help="TOML config: its [model], [steady], [camera], [metric], [ros], [batch] sections apply")
    flags.add_set(p)
    flags.add_network(p)
    flags.add_precision(p, default="fp32")
    flags.add_calibration(p)
    p.set_defaults(handler=cmd_batch)


def cmd_batch(args: argparse.Namespace) -> int:
    from streamer.batch.driver import Executor, Job, run_batch
    from streamer.core.files import writable_folder
    from streamer.model.weights import resolve_weights_path
    from streamer.pipeline.options import load_config

    conf = load_config(args.config, flags.overrides(args, BATCH_FLAGS))
    if conf["metric"].mode == "points":
        raise ConfigError("[metric] mode = 'points' needs a live anchors feed; batch runs ground or fixed (or off)")
    out = writable_folder(args.out, "--out")  # before any work: a folder we cannot write fails in a second
    weights = str(resolve_weights_path(args.weights, conf["model"].weights))
    calibration = args.calibration
    executor: Executor
    if args.executor == "ray":
        from streamer.batch.ray_executor import RayExecutor

        executor = RayExecutor(conf, weights, out, calibration, args.ray_address)
    else:
        from streamer.batch.local import LocalExecutor

        executor = LocalExecutor(conf, weights, out, calibration, conf["batch"].workers, conf["batch"].max_retries,
                                 stall_s=conf["batch"].stall_s)
    failed = run_batch(Job(list(args.inputs), out, conf, args.topic), executor)
    if failed:
        log.error("%d input(s) failed; finished units are kept and a re-run continues from them", failed)
        return EXIT_RUNTIME
    return 0
