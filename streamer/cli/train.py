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
    if args.json:
        writable_file(args.json, "--json")  # before the work: a place we cannot write fails in a second
    dataset = RGBDDataset(args.data, args.depth_scale)  # checked before the model loads: data errors come first
    predict = make_predictor(args.weights, args.precision, args.threads, [p.photo for p in dataset.pairs])
    result = evaluate(predict, dataset, args.max_depth, anchors=args.anchors, seed=args.seed)
    if not result["images"]:  # nothing was scored: not a result, whatever the table would say
        raise StreamerError(f"eval {args.data}: none of the {len(dataset)} image(s) has a valid depth pixel"
                            f"{f' within --max-depth {args.max_depth:g} m' if args.max_depth else ''} (empty or "
                            f"all-zero depth files?), so nothing was scored")
    ran = predict.precision
    result.update({"weights": str(args.weights) if args.weights else None, "precision": ran,
                   "precision_requested": args.precision})
    print(format_table(result, f"{args.data} ({len(dataset)} images, {ran}, "
                               f"{result['images_per_s'] or 0:.2f} img/s)"))
    if args.json:
        write_json(args.json, result)
        log.info("wrote %s", args.json)
    return 0


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
