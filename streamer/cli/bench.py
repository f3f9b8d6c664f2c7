"""`depth-streamer bench ...`: the benchmarks (streamer/tools/bench, soak), imported only when one runs."""
from __future__ import annotations

import argparse
from pathlib import Path

import streamer.cli.flags as flags
from streamer.errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    b = sub.add_parser("bench", help="benchmarks: the network alone, the whole pipeline, or a long soak")
    bsub = b.add_subparsers(dest="bench_command", required=True)
    bm = bsub.add_parser("model", help="network latency per backend, size and thread count")
    flags.add_weights(bm)
    bm.add_argument("--backends", default="onnxruntime,torch")
    bm.add_argument("--sizes", default="256x256,256x192,256x128", help="WxH list")
    bm.add_argument("--threads", default="", help="comma list of thread counts (default: 1 and all cores)")
    bm.add_argument("--runs", type=flags.number(int, 1, 100_000), default=30)
    bm.set_defaults(handler=cmd_bench_model)
    bp = bsub.add_parser("pipeline", help="the whole pipeline on VIDEO against the official MiDaS camera loop")
    bp.add_argument("video")
    flags.add_weights(bp)
    bp.add_argument("--seconds", type=flags.number(float, above=0, hi=86400), default=15.0,
                    help="seconds per measurement")
    bp.add_argument("--paced-fps", type=flags.number(float, above=0, hi=1000), default=30.0,
                    help="camera rate the file stands in for")
    bp.add_argument("--net-size", type=flags.number(int, 32, 4096), default=256)
    flags.add_precision(bp, default="auto", help="our daemon's model.precision (the official loops are what they are)")
    flags.add_set(bp, help="more config for our daemon, to compare settings (model.openvino_pinning=off, "
                           "model.preprocess=exact, model.threads=1, ...)")
    bp.set_defaults(handler=cmd_bench_pipeline)
    bb = bsub.add_parser("batch", help="`batch` over CLIPS copies of VIDEO, local executor and Ray executor, against "
                                       "the daemon's lossless run on VIDEO; RSS per worker; with --long-bag-minutes, "
                                       "a long bag's memory")
    bb.add_argument("video", nargs="?", help="the clip of the throughput phases (none: only --long-bag-minutes)")
    flags.add_weights(bb)
    bb.add_argument("--clips", type=int, default=4, help="copies of VIDEO the executors work through")
    bb.add_argument("--seconds", type=float, default=15.0, help="seconds the daemon is measured")
    bb.add_argument("--no-ray", action="store_true", help="skip the Ray executor")
    bb.add_argument("--long-bag-minutes", type=flags.number(float, 0, 1440), default=0.0,
                    help="also write a synthetic bag this long (160x120 at 10 fps) and compare the peak RSS of a "
                         "worker running it as one unit with a 1-minute bag's (0 = skip; 10 for the issue's target)")
    flags.add_precision(bb, default="fp32", help="model.precision of the daemon and the batch workers")
    bb.set_defaults(handler=cmd_bench_batch)
    bn = bsub.add_parser("batching", help="the network on frames of N streams at once against one at a time "
                                          "(fixed-batch exports, fp32 ONNX Runtime): is cross-stream batching worth it")
    flags.add_weights(bn)
    bn.add_argument("--batch", type=flags.number(int, 2, 16), default=2, help="frames at once (the streams)")
    bn.add_argument("--seconds", type=flags.number(float, above=0, hi=3600), default=5.0, help="seconds per run")
    bn.add_argument("--rounds", type=flags.number(int, 1, 100), default=3, help="batch 1 and batch N alternated")
    bn.set_defaults(handler=cmd_bench_batching)
    br = bsub.add_parser("restart", help="seconds from `run` to the low precision: a first start, then a restart "
                                         "that should serve the kept verdict")
    br.add_argument("video")
    flags.add_weights(br)
    flags.add_precision(br, default="auto", help="the daemon's model.precision")
    br.set_defaults(handler=cmd_bench_restart)
    bs = bsub.add_parser("soak", help="one daemon on VIDEO (looping, paced) for --minutes under MJPEG viewers and "
                                      "ZeroMQ subscribers, sampled from outside")
    bs.add_argument("video")
    flags.add_weights(bs)
    bs.add_argument("--minutes", type=flags.number(float, above=0, hi=10080), default=10.0, help="how long")
    bs.add_argument("--paced-fps", type=flags.number(float, above=0, hi=1000), default=30.0,
                    help="camera rate the file stands in for")
    bs.add_argument("--mjpeg-clients", type=flags.number(int, 0, 10_000), default=5,
                    help="MJPEG viewers reading /stream.mjpg")
    bs.add_argument("--zmq-subscribers", type=flags.number(int, 0, 10_000), default=2,
                    help="ZeroMQ subscribers; with 2 or more the last "
                                                                   "one is deliberately slow")
    bs.add_argument("--sample-s", type=flags.number(float, above=0, hi=86400), default=10.0,
                    help="seconds between samples")
    bs.add_argument("--json", metavar="OUT", help="write every sample and the summary here")
    flags.add_precision(bs, default="auto", help="the daemon's model.precision")
    bs.set_defaults(handler=cmd_bench_soak)
    bq = bsub.add_parser("precision", help="fp32 / bf16 / int8 network latency and each one's error on real frames")
    flags.add_weights(bq)
    flags.add_calibration(bq, required=True,
                          help="real frames: int8 calibrates on some, every precision is scored on the others")
    bq.add_argument("--sizes", default="256x192", help="WxH list")
    bq.add_argument("--runs", type=flags.number(int, 1, 100_000), default=30)
    bq.add_argument("--threads", type=flags.number(int, 0, 1024), default=0)
    bq.add_argument("--images", nargs="*", type=Path, default=[], help="photos to score the error on as well")
    bq.set_defaults(handler=cmd_bench_precision)
    bg = bsub.add_parser("stages", help="CPU time per frame of each stage outside the network, on VIDEO's frames")
    bg.add_argument("video")
    bg.add_argument("--frames", type=flags.number(int, 1, 1_000_000), default=120)
    bg.set_defaults(handler=cmd_bench_stages)
    bx = bsub.add_parser("metric", help="metric depth against the least-squares oracle: demo ground mode, points "
                                        "mode with 8 and 3 anchors on a rendered set, CPU cost per frame")
    flags.add_weights(bx, help="use trained weights (the trained proxy or the official file)")
    bx.add_argument("--frames", type=flags.number(int, 1, 1_000_000), default=60, help="demo frames for ground mode")
    bx.add_argument("--images", type=flags.number(int, 1, 1_000_000), default=48,
                    help="rendered RGB-D images for points mode")
    bx.add_argument("--data", type=Path, help="score points mode on this RGB-D folder instead")
    bx.add_argument("--threads", type=flags.number(int, 0, 1024), default=0)
    bx.add_argument("--json", metavar="OUT", help="write the figures here")
    bx.add_argument("--verdict-only", action="store_true", help="only the verdict rows (held-out rendered sets, "
                    "the live demo) and the CPU cost of verdict + sigma")
    bx.add_argument("--max-rel-error", type=flags.number(float, above=0, hi=10), default=0.4,
                    help="the verdict rows' promise (default 0.4, for "
                    "the trained proxy)")
    bx.set_defaults(handler=cmd_bench_metric)
    bo = bsub.add_parser("outputs", help="fps with the Foxglove server (no client, one client on every channel) and "
                                         "with recording on, against a baseline; bytes/s recorded")
    bo.add_argument("video")
    flags.add_weights(bo)
    bo.add_argument("--seconds", type=flags.number(float, above=0, hi=86400), default=30.0,
                    help="seconds measured per phase")
    bo.add_argument("--paced-fps", type=flags.number(float, above=0, hi=1000), default=30.0,
                    help="camera rate the file stands in for")
    flags.add_precision(bo, default="fp32", help="the daemon's model.precision")
    bo.add_argument("--json", metavar="OUT", help="write the rows here")
    bo.set_defaults(handler=cmd_bench_outputs)
    bm2 = bsub.add_parser("streams", help="several streams in one daemon vs one stream and vs one daemon per "
                                          "stream: fps, drops, latency, RSS, start time")
    bm2.add_argument("video")
    flags.add_weights(bm2)
    bm2.add_argument("--seconds", type=flags.number(float, above=0, hi=86400), default=30.0,
                     help="seconds measured per phase")
    flags.add_precision(bm2, default="auto", help="the daemons' model.precision")
    bm2.add_argument("--phases", default="all", help="comma-separated phases, or all (see the module's docstring)")
    bm2.add_argument("--json", metavar="OUT", help="write the rows here")
    bm2.add_argument("--rtsp-server", metavar="SCRIPT", help="the rtsp phase's camera: a script the system python3 "
                                                             "runs with --port/--video, printing READY port=N url=URL")
    bm2.set_defaults(handler=cmd_bench_streams)
    bu = bsub.add_parser("uploads", help="the daemon's RSS (baseline, peak, after) under POST /depth photos of every "
                                         "kind a visitor can send")
    bu.add_argument("video")
    flags.add_weights(bu)
    bu.add_argument("--rounds", type=flags.number(int, 1, 10_000), default=2, help="times each photo is posted")
    bu.set_defaults(handler=cmd_bench_uploads)
    bf = bsub.add_parser("footprint", help="one stream's resident memory and where it goes: fp32 / low precision, "
                                           "first start / restart, before and after a photo upload, malloc arenas")
    bf.add_argument("video")
    flags.add_weights(bf)
    bf.add_argument("--paced-fps", type=flags.number(float, above=0, hi=1000), default=15.0,
                    help="camera rate the file stands in for")
    bf.add_argument("--settle", type=flags.number(float, 0, 86400), default=20.0,
                    help="seconds after the decision before measuring")
    bf.add_argument("--window", type=flags.number(float, above=0, hi=86400), default=10.0,
                    help="seconds of RSS samples (median)")
    bf.add_argument("--json", metavar="OUT", help="write the rows here")
    bf.set_defaults(handler=cmd_bench_footprint)
    bt = bsub.add_parser("train", help="train and eval images/s on a rendered RGB-D set")
    flags.add_weights(bt, required=True, help="starting weights (e.g. the official file)")
    bt.add_argument("--count", type=flags.number(int, 1, 1_000_000), default=24, help="rendered 640x480 frames")
    bt.add_argument("--epochs", type=flags.number(int, 1, 100_000), default=2)
    bt.add_argument("--threads", type=flags.number(int, 0, 1024), default=0)
    bt.set_defaults(handler=cmd_bench_train)


def cmd_bench_model(args: argparse.Namespace) -> int:
    from streamer.tools.bench.model import bench_model

    sizes = [(int(w), int(h)) for w, h in (s.lower().split("x") for s in args.sizes.split(",") if s)]
    threads = [int(t) for t in args.threads.split(",") if t] or None
    bench_model(args.weights, [b for b in args.backends.split(",") if b], sizes, threads, args.runs)
    return 0


def cmd_bench_pipeline(args: argparse.Namespace) -> int:
    from streamer.tools.bench.pipeline import bench_pipeline

    bench_pipeline(args.video, args.weights, args.seconds, args.paced_fps, args.net_size, args.precision,
                   args.set or ())
    return 0


def cmd_bench_batch(args: argparse.Namespace) -> int:
    from streamer.tools.bench.batch import bench_batch

    if not args.video and not args.long_bag_minutes:
        raise ConfigError("bench batch: give VIDEO (the throughput phases), --long-bag-minutes M (a long bag's "
                          "memory), or both")
    if args.video:
        bench_batch(args.video, args.weights, args.clips, args.seconds, args.precision, ray=not args.no_ray)
    if args.long_bag_minutes:
        from streamer.tools.bench.longbag import bench_long_bag

        bench_long_bag(args.weights, args.precision, args.long_bag_minutes, calibration=args.video)
    return 0


def cmd_bench_batching(args: argparse.Namespace) -> int:
    from streamer.tools.bench.batching import bench_batching

    bench_batching(args.weights, args.batch, args.seconds, args.rounds)
    return 0


def cmd_bench_precision(args: argparse.Namespace) -> int:
    from streamer.tools.bench.precision import bench_precisions

    sizes = [(int(w), int(h)) for w, h in (s.lower().split("x") for s in args.sizes.split(",") if s)]
    bench_precisions(args.weights, args.calibration, sizes, args.runs, args.threads, args.images)
    return 0


def cmd_bench_restart(args: argparse.Namespace) -> int:
    from streamer.tools.bench.restart import bench_restart

    bench_restart(args.video, args.weights, args.precision)
    return 0


def cmd_bench_stages(args: argparse.Namespace) -> int:
    from streamer.tools.bench.stages import bench_stages

    bench_stages(args.video, args.frames)
    return 0


def cmd_bench_metric(args: argparse.Namespace) -> int:
    import json

    from streamer.tools.bench.metric import bench_metric

    result = bench_metric(args.weights, args.frames, args.images, args.data, args.threads,
                          verdict_only=args.verdict_only, max_rel_error=args.max_rel_error)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    return 0


def cmd_bench_outputs(args: argparse.Namespace) -> int:
    from streamer.tools.bench.outputs import bench_outputs

    bench_outputs(args.video, args.weights, args.seconds, args.paced_fps, args.precision, args.json)
    return 0


def cmd_bench_streams(args: argparse.Namespace) -> int:
    from streamer.tools.bench.streams import PHASES, bench_streams

    phases = list(PHASES) if args.phases == "all" else [p.strip() for p in args.phases.split(",") if p.strip()]
    if args.phases == "all" and not args.rtsp_server:
        phases.remove("rtsp")
    bench_streams(args.video, args.weights, args.seconds, args.precision, phases, args.json, args.rtsp_server)
    return 0


def cmd_bench_uploads(args: argparse.Namespace) -> int:
    from streamer.tools.bench.uploads import bench_uploads

    bench_uploads(args.video, args.weights, rounds=args.rounds)
    return 0


def cmd_bench_footprint(args: argparse.Namespace) -> int:
    from streamer.tools.bench.footprint import bench_footprint

    bench_footprint(args.video, args.weights, args.paced_fps, args.settle, args.window, args.json)
    return 0


def cmd_bench_train(args: argparse.Namespace) -> int:
    from streamer.tools.bench.train import bench_train

    bench_train(args.weights, args.count, args.epochs, args.threads)
    return 0


def cmd_bench_soak(args: argparse.Namespace) -> int:
    from streamer.tools.soak.runner import SoakOptions, run_soak

    return run_soak(SoakOptions(video=args.video, weights=args.weights, minutes=args.minutes,
                                paced_fps=args.paced_fps, mjpeg_clients=args.mjpeg_clients,
                                zmq_subscribers=args.zmq_subscribers, sample_s=args.sample_s,
                                precision=args.precision), args.json)
