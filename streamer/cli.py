"""`depth-streamer` command line: run, infer, weights fetch|verify, bench, view."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from .errors import EXIT_RUNTIME, StreamerError

log = logging.getLogger("streamer")


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


def setup_logging(level: str) -> None:
    # Under systemd (JOURNAL_STREAM set) the journal adds its own timestamps; a terminal wants them.
    fmt = "%(levelname)s %(name)s: %(message)s" if os.environ.get("JOURNAL_STREAM") else \
        "%(asctime)s %(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=getattr(logging, level.upper()), format=fmt, stream=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    from .model.commands import add_parsers as add_quantize_parsers, add_precision_args

    parser = argparse.ArgumentParser(prog="depth-streamer",
                                     description="Real-time monocular depth daemon (MiDaS small).")
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("infer", help="depth for still images: DIR/<stem>.npy (raw network output) and .png")
    p.add_argument("images", nargs="+", type=Path)
    p.add_argument("--weights", help="weights file (default: $DEPTH_STREAMER_WEIGHTS, else the fetched file)")
    p.add_argument("--backend", default="auto", choices=("auto", "torch", "onnxruntime"))
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--output-dir", type=Path, default=Path("."))
    add_precision_args(p, default="fp32")
    p.set_defaults(handler=cmd_infer)
    add_quantize_parsers(sub)

    w = sub.add_parser("weights", help="fetch or verify the official MiDaS v2.1 small weights")
    wsub = w.add_subparsers(dest="weights_command", required=True)
    f = wsub.add_parser("fetch", help="download, verify (sha256) and atomically install the official weights")
    f.add_argument("--dest", type=Path, help="where to put the file (default: the cache/state directory)")
    f.add_argument("--url", default=None, help="download from here instead of the MiDaS GitHub release")
    f.add_argument("--timeout", type=float, default=15.0, help="network timeout in seconds")
    f.set_defaults(handler=cmd_weights_fetch)
    v = wsub.add_parser("verify", help="check a weights file's sha256 against the official one")
    v.add_argument("path", nargs="?", type=Path)
    v.set_defaults(handler=cmd_weights_verify)

    r = sub.add_parser("run", help="run the daemon: capture -> depth -> ZeroMQ + MJPEG preview")
    r.add_argument("--config", type=Path, help="TOML config (see configs/); without it, built-in defaults")
    r.add_argument("--source", help="demo, /dev/videoN, rtsp://..., http://... or a video file (source.url)")
    r.add_argument("--weights", help="weights file (overrides $DEPTH_STREAMER_WEIGHTS and model.weights)")
    r.add_argument("--backend", choices=("auto", "torch", "onnxruntime"))
    r.add_argument("--device", choices=("auto", "cpu", "cuda"))
    r.add_argument("--threads", type=int)
    r.add_argument("--camera-id", dest="camera_id", help="camera id in every header (zmq.camera_id)")
    r.add_argument("--http-port", dest="http_port", type=int)
    r.add_argument("--zmq-port", dest="zmq_port", type=int)
    r.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE", help="override any config key")
    r.add_argument("--check", action="store_true", help="validate the config, print it, and exit")
    r.set_defaults(handler=cmd_run)

    vw = sub.add_parser("view", help="preview window for a running daemon (ZeroMQ or MJPEG URL)")
    vw.add_argument("address", nargs="?", default="http://127.0.0.1:8080/stream.mjpg",
                    help="tcp://HOST:PORT (ZeroMQ color topic) or http://HOST:PORT/stream.mjpg")
    vw.add_argument("--view", choices=("depth", "side_by_side", "overlay"))
    vw.add_argument("--token", help="bearer token for a protected MJPEG server")
    vw.set_defaults(handler=cmd_view)

    b = sub.add_parser("bench", help="inference latency per backend and size; --pipeline VIDEO for the whole pipeline")
    b.add_argument("--weights")
    b.add_argument("--backends", default="onnxruntime,torch")
    b.add_argument("--sizes", default="256x256,256x192,256x128", help="WxH list")
    b.add_argument("--threads", default="", help="comma list of thread counts (default: 1 and all cores)")
    b.add_argument("--runs", type=int, default=30)
    b.add_argument("--pipeline", metavar="VIDEO", help="benchmark the whole pipeline on VIDEO against the official "
                                                        "MiDaS camera loop instead of the network alone")
    b.add_argument("--seconds", type=float, default=15.0, help="--pipeline: seconds per measurement")
    b.add_argument("--paced-fps", type=float, default=30.0, help="--pipeline: camera rate the file stands in for")
    b.add_argument("--net-size", type=int, default=256)
    b.add_argument("--soak", metavar="VIDEO", help="run one daemon on VIDEO (looping, paced) for --minutes under "
                                                    "MJPEG viewers and ZeroMQ subscribers, sampling it from outside")
    b.add_argument("--minutes", type=float, default=10.0, help="--soak: how long")
    b.add_argument("--mjpeg-clients", type=int, default=5, help="--soak: MJPEG viewers reading /stream.mjpg")
    b.add_argument("--zmq-subscribers", type=int, default=2, help="--soak: ZeroMQ subscribers; with 2 or more "
                                                                  "the last one is deliberately slow")
    b.add_argument("--sample-s", type=float, default=10.0, help="--soak: seconds between samples")
    b.add_argument("--json", metavar="OUT", help="--soak: write every sample and the summary here")
    b.set_defaults(handler=cmd_bench)
    return parser


def cmd_infer(args: argparse.Namespace) -> int:
    import cv2
    import numpy as np

    from .model import ModelOptions, load_depth_model
    from .steady.colorize import Colorizer

    options = ModelOptions(backend=args.backend, device=args.device, threads=args.threads, precision=args.precision)
    model = load_depth_model(options, weights_path=args.weights)
    if args.precision != "fp32":
        from .model.precision_manager import apply_precision

        apply_precision(model, options, args.calibration, args.images)
    colorizer = Colorizer()
    args.output_dir.mkdir(parents=True, exist_ok=True)
    failed = 0
    for path in args.images:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR) if path.is_file() else None
        if image is None:
            log.error("cannot read %s: %s", path, "no such file" if not path.exists() else "not a readable image")
            failed += 1
            continue
        raw = model.predict(image).astype(np.float32, copy=False)
        np.save(args.output_dir / f"{path.stem}.npy", raw)
        lo, hi = np.percentile(raw, (2, 98))  # a still image has no history: its own robust range
        color = colorizer.colorize(raw, (float(lo), float(hi)), size=(image.shape[1], image.shape[0]))
        cv2.imwrite(str(args.output_dir / f"{path.stem}.png"), color)
        log.info("%s -> %s/%s.{npy,png} (network %dx%d)", path, args.output_dir, path.stem, raw.shape[1], raw.shape[0])
    if failed:
        log.error("%d of %d inputs failed", failed, len(args.images))
        return EXIT_RUNTIME
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from . import config as cfg
    from .daemon import Daemon, with_cli_overrides

    daemon = Daemon(args.config, with_cli_overrides(args), weights=args.weights)
    if args.check:
        print(cfg.to_toml(daemon.conf))
        return 0
    return daemon.run()


def cmd_view(args: argparse.Namespace) -> int:
    from .publish.viewer import ViewerError, run_viewer

    try:
        return int(run_viewer(args.address, view=args.view, token=args.token) or 0)
    except ViewerError as exc:
        raise StreamerError(str(exc)) from None


def cmd_weights_fetch(args: argparse.Namespace) -> int:
    from .model import weights

    dest = weights.fetch(args.dest, url=args.url or weights.WEIGHTS_URL, timeout=args.timeout)
    print(f"{dest}: sha256 {weights.WEIGHTS_SHA256} OK")
    return 0


def cmd_weights_verify(args: argparse.Namespace) -> int:
    from .model import weights

    path = args.path or weights.resolve_weights_path()
    digest = weights.verify(path)
    print(f"{path}: sha256 {digest} OK (official MiDaS v2.1 small)")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    if args.soak:
        from .soak import SoakOptions, run_soak

        return run_soak(SoakOptions(video=args.soak, weights=args.weights, minutes=args.minutes,
                                    paced_fps=args.paced_fps, mjpeg_clients=args.mjpeg_clients,
                                    zmq_subscribers=args.zmq_subscribers, sample_s=args.sample_s), args.json)
    if args.pipeline:
        from .bench_pipeline import bench_pipeline

        bench_pipeline(args.pipeline, args.weights, args.seconds, args.paced_fps, args.net_size)
        return 0
    from .bench import bench_model

    sizes = [tuple(int(v) for v in s.lower().split("x")) for s in args.sizes.split(",") if s]
    threads = [int(t) for t in args.threads.split(",") if t] or None
    bench_model(args.weights, [b for b in args.backends.split(",") if b], sizes, threads, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
