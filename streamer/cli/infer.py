"""`depth-streamer infer IMAGE_OR_VIDEO...`: depth for images (.npy + .png) and videos (.depth.mp4)."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import streamer.cli.flags as flags
from streamer.errors import EXIT_RUNTIME, ConfigError
from streamer.render.views import VIEWS

log = logging.getLogger("streamer")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("infer", help="depth for images (DIR/<stem>.npy raw + .png) and videos (DIR/<stem>.depth.mp4)")
    p.add_argument("images", nargs="+", type=Path, metavar="IMAGE_OR_VIDEO")
    flags.add_weights(p)
    flags.add_config(p, help="TOML config: its [model], [color] and [steady] sections apply")
    flags.add_network(p)
    p.add_argument("--view", default="depth", choices=VIEWS, help="videos: what the depth video shows")
    p.add_argument("--raw", action="store_true", help="videos: also DIR/<stem>.depth.npz with every raw map")
    p.add_argument("--anchors", type=Path, metavar="FILE.json", help='images: known depths {"NAME.png": [[u, v, '
                   'metres], ...]} -> DIR/<stem>.metric.npy (metres at the input size)')
    p.add_argument("--ply", action="store_true", help="images: also DIR/<stem>.ply, the metric point cloud ([camera])")
    flags.add_set(p)
    p.add_argument("--output-dir", type=Path, default=Path("."))
    flags.add_precision(p, default="fp32")
    flags.add_calibration(p)
    p.set_defaults(handler=cmd_infer)


def cmd_infer(args: argparse.Namespace) -> int:
    from streamer.model import load_depth_model
    from streamer.pipeline.offline import InferOptions, prepare_output_dir, run_infer
    from streamer.pipeline.offline_metric import MetricOutputs, load_anchors, names, unmatched
    from streamer.pipeline.options import load_config

    conf = load_config(args.config, flags.overrides(args, flags.MODEL_FLAGS))
    prepare_output_dir(args.output_dir)  # before the model: a folder we cannot write fails in a second
    metric = None
    if args.ply and not conf["camera"].has_intrinsics:
        raise ConfigError("--ply needs the camera's intrinsics: [camera] fx, fy, cx, cy (with width, height) or "
                          "hfov_deg, from --config or --set camera.fx=...")
    if args.anchors is not None or args.ply:
        anchors = load_anchors(args.anchors) if args.anchors is not None else None
        stray = unmatched(anchors, list(args.images)) if anchors else {}
        if stray:  # said before the work: a typo in a key would otherwise only show as "no entry" per input
            log.warning("--anchors %s: %d entr%s match%s no input file name: %s", args.anchors, len(stray),
                        "y" if len(stray) == 1 else "ies", "es" if len(stray) == 1 else "", names(stray))
        metric = MetricOutputs(anchors, args.ply, conf["camera"], conf["metric"])
    options = InferOptions(output_dir=args.output_dir, view=args.view, raw=args.raw, color=conf["color"],
                           steady=conf["steady"], metric=metric)
    model = load_depth_model(conf["model"], weights_path=args.weights)
    if metric is not None and metric.anchors is not None and conf["metric"].error_model:
        from dataclasses import replace

        from streamer.steady.metric import load_error_model

        points = replace(conf["metric"], mode="points")  # --anchors: judged in points mode
        network = (model.weights_sha256, model.preprocess.net_size)
        metric = replace(metric, error_model=load_error_model(points, network))
        options = replace(options, metric=metric)
    if conf["model"].precision != "fp32":
        from streamer.model.precision.offline import apply_precision

        apply_precision(model, conf["model"], args.calibration, args.images)
    failed = run_infer(model, list(args.images), options)
    if failed:
        log.error("%d of %d inputs failed", failed, len(args.images))
        return EXIT_RUNTIME
    return 0
