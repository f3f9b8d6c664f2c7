"""`depth-streamer eval|train|dataset demo`: the RGB-D folder commands (heavy imports inside the handlers)."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import streamer.cli.flags as flags
from streamer.core.files import writable_file
from streamer.errors import StreamerError
from streamer.model.precision import PRECISIONS

log = logging.getLogger("streamer.train")

# train flags whose default is None so that --resume can tell "given" from "default" (and warn when ignored)
_TRAIN_FLAGS = ("epochs", "batch", "lr", "size", "val_split", "freeze_bn", "depth_scale", "max_depth", "seed")


def register(sub: argparse._SubParsersAction) -> None:
    e = sub.add_parser("eval", help="score weights on an RGB-D folder with the MiDaS protocol (AbsRel, RMSE, delta)")
    e.add_argument("data", type=Path, metavar="DATA", help="folder of NAME.jpg|png + NAME.depth.png|npy pairs")
    flags.add_weights(e)
    flags.add_precision(e, default="fp32", choices=PRECISIONS,
                        help="network precision (default fp32); a low precision is gated and raced against fp32")
    e.add_argument("--max-depth", type=flags.number(float, above=0),
                   help="metres: ignore deeper ground truth, and cap predictions there")
    e.add_argument("--json", type=Path, metavar="OUT", help="also write the summary and per-image metrics here")
    e.add_argument("--depth-scale", type=flags.number(float, above=0), default=0.001,
                   help="metres per unit of .depth.png (default 0.001)")
    e.add_argument("--threads", type=flags.number(int, 0, 1024), default=0, help="inference threads; 0 = every core")
    e.add_argument("--anchors", type=flags.number(int, 0, 100_000), default=0, metavar="N",
                   help="also score metric depth fitted from only N "
                   "random true pixels per image (seeded), beside the least-squares oracle")
    e.add_argument("--seed", type=flags.number(int, 0, flags.SEED_MAX), default=0,
                   help="--anchors: which pixels (default 0)")
    e.add_argument("--ground", action="store_true", help="also judge metric depth fitted to the floor (ground mode; "
                   "NAME.camera.json beside each image, else [camera] from --config)")
    e.add_argument("--error-model-out", type=Path, metavar="FILE", help="with --anchors N or --ground: calibrate "
                   "an error model on this data for [metric] error_model")
    e.add_argument("--coverage", type=flags.number(float, above=0, hi=1), default=0.8,
                   help="--error-model-out: the share of images a `good` verdict's bound must hold for (default 0.8)")
    flags.add_config(e, help="TOML config: its [camera] (a fixed rig for --ground) and [metric] (max_rel_error, "
                     "error_model, ...) apply")
    flags.add_set(e)
    e.set_defaults(handler=cmd_eval)

    t = sub.add_parser("train", help="fine-tune MiDaS small on an RGB-D folder (CPU), with checkpoints and --resume")
    t.add_argument("data", type=Path, metavar="DATA", help="folder of NAME.jpg|png + NAME.depth.png|npy pairs")
    flags.add_weights(t, help="start weights (default: $DEPTH_STREAMER_WEIGHTS, else the fetched file)")
    t.add_argument("--out", type=Path, required=True,
                   help="the fine-tuned weights; the resume checkpoint goes beside it (model.pt -> model.ckpt)")
    t.add_argument("--epochs", type=flags.number(int, 1, 100_000), help="passes over the training split (default 10)")
    t.add_argument("--batch", type=flags.number(int, 1, 4096), help="images per step (default 4)")
    t.add_argument("--lr", type=flags.number(float, above=0, hi=1),
                   help="peak learning rate of the decoder; the encoder gets 1/10 (default 1e-4)")
    t.add_argument("--size", type=flags.number(int, 32, 4096),
                   help="square training crop, multiple of 32 (default 192: 2-core friendly)")
    t.add_argument("--val-split", type=flags.number(float, 0, 0.9),
                   help="share of images held out for validation (default 0.1)")
    t.add_argument("--freeze-backbone", action="store_true", help="train the decoder only (fastest, least change)")
    t.add_argument("--freeze-bn", choices=("auto", "on", "off"),
                   help="keep the backbone's BatchNorm statistics; auto = when < 500 training images (default)")
    t.add_argument("--resume", action="store_true", help="continue from OUT.ckpt with its own settings and schedule")
    t.add_argument("--depth-scale", type=flags.number(float, above=0),
                   help="metres per unit of .depth.png (default 0.001)")
    t.add_argument("--max-depth", type=flags.number(float, above=0),
                   help="metres: ignore deeper ground truth in the loss and validation")
    t.add_argument("--seed", type=flags.number(int, 0, flags.SEED_MAX),
                   help="split, shuffling and augmentation seed (default 0)")
    t.add_argument("--threads", type=flags.number(int, 0, 1024), default=0, help="torch threads; 0 = every core")
    t.set_defaults(handler=cmd_train)

    d = sub.add_parser("dataset", help="make RGB-D data sets")
    dsub = d.add_subparsers(dest="dataset_command", required=True)
    demo = dsub.add_parser("demo", help="random rooms from the built-in renderer, in the `train`/`eval` layout")
    demo.add_argument("out", type=Path, metavar="OUT")
    demo.add_argument("--count", type=flags.number(int, 1, 1_000_000), required=True, help="how many RGB-D pairs")
    demo.add_argument("--seed", type=flags.number(int, 0, flags.SEED_MAX), default=0,
                      help="same seed, same frames (default 0)")
    demo.add_argument("--size", default="640x480", help="WxH (default 640x480)")
    demo.set_defaults(handler=cmd_dataset_demo)


def cmd_eval(args: argparse.Namespace) -> int:
    from streamer.train.dataset import RGBDDataset
    from streamer.train.evaluate import evaluate, format_table, make_predictor, write_json

    if args.max_depth is not None and not args.max_depth > 0:
        raise StreamerError(f"--max-depth must be > 0 metres, got {args.max_depth}")
    if args.anchors < 0 or args.anchors == 1:
        raise StreamerError(f"--anchors {args.anchors}: the fit needs at least 2 anchors (0 = off)")
    if args.ground and args.anchors:
        raise StreamerError("--ground and --anchors N judge different modes: give one")
    if args.error_model_out and not (args.ground or args.anchors):
        raise StreamerError("--error-model-out: give --anchors N (points mode) or --ground: the model is per mode")
    if not 0.5 <= args.coverage < 1.0:
        raise StreamerError(f"--coverage {args.coverage}: must be in 0.5 .. 0.99")
    for path, flag in ((args.json, "--json"), (args.error_model_out, "--error-model-out")):
        if path:
            writable_file(path, flag)  # before the work: a place we cannot write fails in a second
    dataset = RGBDDataset(args.data, args.depth_scale)  # checked before the model loads: data errors come first
    predict = make_predictor(args.weights, args.precision, args.threads, [p.photo for p in dataset.pairs])
    metric = metric_eval(args, dataset, predict) if args.ground or args.anchors else None
    result = evaluate(predict, dataset, args.max_depth, anchors=args.anchors, seed=args.seed, metric=metric)
    if not result["images"]:  # nothing was scored: not a result, whatever the table would say
        raise StreamerError(f"eval {args.data}: none of the {len(dataset)} image(s) has a valid depth pixel"
                            f"{f' within --max-depth {args.max_depth:g} m' if args.max_depth else ''} (empty or "
                            f"all-zero depth files?), so nothing was scored")
    ran = predict.precision
    result.update({"weights": str(args.weights) if args.weights else None, "precision": ran,
                   "precision_requested": args.precision})
    print(format_table(result, f"{args.data} ({len(dataset)} images, {ran}, "
                               f"{result['images_per_s'] or 0:.2f} img/s)"))
    if metric is not None:
        print(metric.report())
    if metric is not None and args.error_model_out:
        model = metric.error_model(predict.model.weights_sha256, predict.model.preprocess.net_size, args.coverage)
        model.save(args.error_model_out)
        print(f"{args.error_model_out}: error model for {metric.mode} mode"
              f"{f' ({args.anchors} anchors)' if args.anchors else ''}, {model.images} images, coverage "
              f"{model.coverage:.0%}, sigma scale {model.sigma_scale:.3f}; use it with [metric] error_model")
    if args.json:
        write_json(args.json, result)
        log.info("wrote %s", args.json)
    return 0


def metric_eval(args: argparse.Namespace, dataset, predict):
    """The MetricEval of `eval --anchors N/--ground`: [camera] and [metric] from --config/--set; an error model in
    [metric] error_model judges (checked against these weights), unless one is being calibrated."""
    from streamer.geometry.error_model import ErrorModel, ErrorModelError
    from streamer.pipeline.options import load_config
    from streamer.train.metric_eval import MetricEval
    from streamer.train.metric_records import Judge

    conf = load_config(args.config, flags.overrides(args, ()))
    m = conf["metric"]
    model = None
    if m.error_model and not args.error_model_out:
        try:
            model = ErrorModel.load(m.error_model)
            model.check(weights_sha256=predict.model.weights_sha256, mode="points" if args.anchors else "ground",
                        net_size=predict.model.preprocess.net_size, anchors=args.anchors or None)
        except ErrorModelError as exc:
            raise StreamerError(f"[metric] error_model = {m.error_model!r}: {exc}") from None
    judge = Judge(m.max_rel_error, m.max_range_m, m.extrapolation, m.anchor_tolerance, m.ground_tolerance,
                  m.min_floor, model)
    return MetricEval(dataset, judge, anchors=args.anchors, seed=args.seed, camera=conf["camera"],
                      max_depth=args.max_depth, keep_pixels=bool(args.error_model_out))


def cmd_train(args: argparse.Namespace) -> int:
    from streamer.train.config import TrainOptions
    from streamer.train.trainer import Trainer

    writable_file(args.out, "--out")  # before the work: not after an epoch of training
    given = {k for k in _TRAIN_FLAGS if getattr(args, k) is not None}
    if args.freeze_backbone:
        given.add("freeze_backbone")
    opts = TrainOptions(data=str(args.data), out=str(args.out), weights=args.weights, threads=args.threads,
                        freeze_backbone=args.freeze_backbone, **{k: getattr(args, k) for k in given
                                                                  if k != "freeze_backbone"})
    summary = Trainer(opts, resume=args.resume, given=given).run()
    if summary["interrupted"]:
        print(f"interrupted at step {summary['step']}/{summary['total_steps']}; checkpoint {summary['checkpoint']} "
              f"(continue with --resume)")
        return 0
    last = summary["history"][-1] if summary["history"] else {}
    val = ""
    if last.get("abs_rel") is not None:
        val = f", validation AbsRel {last['abs_rel']:.4f} delta1 {last['delta1']:.4f}"
    print(f"{summary['out']}: {summary['step']} steps{val}")
    return 0


def cmd_dataset_demo(args: argparse.Namespace) -> int:
    from streamer.core.progress import Progress
    from streamer.train.synth import write_demo_dataset

    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        raise StreamerError(f"--size {args.size!r}: expected WxH, e.g. 640x480") from None
    if not (32 <= width <= 4096 and 32 <= height <= 4096):
        raise StreamerError(f"--size {args.size}: each side must be 32..4096 px")
    if args.count < 1:
        raise StreamerError(f"--count must be >= 1, got {args.count}")
    bar = Progress(args.count, "render", unit="frame", stream=sys.stderr)
    write_demo_dataset(args.out, args.count, args.seed, width, height, progress=bar)
    bar.close()
    print(f"{args.out}: {args.count} RGB-D pairs (NAME.png + NAME.depth.png, 16-bit millimetres), seed {args.seed}")
    return 0
