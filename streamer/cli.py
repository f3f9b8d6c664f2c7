"""`depth-streamer` command line: run, infer, weights fetch|verify, view, calibrate, bench, train, eval."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from streamer.config.schema import Override
from streamer.errors import EXIT_RUNTIME, ConfigError, StreamerError
from streamer.render.views import VIEWS

log = logging.getLogger("streamer")
TOKEN_ENV = "DEPTH_STREAMER_TOKEN"  # the viewer's bearer token (or --token-file); never a command-line value


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
    from streamer.core.redact import RedactingFormatter

    fmt = "%(levelname)s %(name)s: %(message)s" if os.environ.get("JOURNAL_STREAM") else \
        "%(asctime)s %(levelname)s %(name)s: %(message)s"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter(fmt))  # no credential reaches the journal, whoever logs it
    logging.basicConfig(level=getattr(logging, level.upper()), handlers=[handler])


def build_parser() -> argparse.ArgumentParser:
    from streamer.model.commands import add_parsers as add_quantize_parsers
    from streamer.model.commands import add_precision_args
    from streamer.model.precision import REQUESTS

    parser = argparse.ArgumentParser(prog="depth-streamer",
                                     description="Real-time monocular depth daemon (MiDaS small).")
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("infer", help="depth for images (DIR/<stem>.npy raw + .png) and videos (DIR/<stem>.depth.mp4)")
    p.add_argument("images", nargs="+", type=Path, metavar="IMAGE_OR_VIDEO")
    p.add_argument("--weights", help="weights file (default: $DEPTH_STREAMER_WEIGHTS, else the fetched file)")
    p.add_argument("--config", type=Path, help="TOML config: its [model], [color] and [steady] sections apply")
    p.add_argument("--backend", choices=("auto", "torch", "onnxruntime"))
    p.add_argument("--device", choices=("auto", "cpu", "cuda"))
    p.add_argument("--threads", type=int)
    p.add_argument("--view", default="depth", choices=VIEWS, help="videos: what the depth video shows")
    p.add_argument("--raw", action="store_true", help="videos: also DIR/<stem>.depth.npz with every raw map")
    p.add_argument("--anchors", type=Path, metavar="FILE.json", help='images: known depths {"NAME.png": [[u, v, '
                   'metres], ...]} -> DIR/<stem>.metric.npy (metres at the input size)')
    p.add_argument("--ply", action="store_true", help="images: also DIR/<stem>.ply, the metric point cloud ([camera])")
    p.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE", help="override any config key")
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
    r.add_argument("--precision", choices=REQUESTS,
                   help="network precision (model.precision); low precisions are gated against fp32 on live frames")
    r.add_argument("--camera-id", dest="camera_id", help="camera id in every header (zmq.camera_id)")
    r.add_argument("--http-port", dest="http_port", type=int)
    r.add_argument("--zmq-port", dest="zmq_port", type=int)
    r.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE", help="override any config key")
    r.add_argument("--check", action="store_true", help="validate the config and the weights, print the config "
                                                         "(secrets as ***), and exit")
    r.set_defaults(handler=cmd_run)

    vw = sub.add_parser("view", help="preview window for a running daemon (ZeroMQ or MJPEG URL)")
    vw.add_argument("address", nargs="?", default="http://127.0.0.1:8080/stream.mjpg",
                    help="tcp://HOST:PORT (ZeroMQ color topic) or http://HOST:PORT/stream.mjpg")
    vw.add_argument("--view", choices=VIEWS)
    vw.add_argument("--token-file", dest="token_file", type=Path,
                    help=f"file holding the bearer token of a protected MJPEG server (default: ${TOKEN_ENV})")
    vw.add_argument("--token", help=argparse.SUPPRESS)  # refused: a token on the command line is visible in `ps`
    vw.set_defaults(handler=cmd_view)

    from streamer.tools.commands import add_parsers as add_bench_parsers  # bench model|precision|pipeline|...

    add_bench_parsers(sub)
    from streamer.train.commands import add_parsers as add_train_parsers  # eval, train, dataset

    add_train_parsers(sub)
    from streamer.geometry.calibrate import add_parsers as add_calibrate_parser

    add_calibrate_parser(sub)
    return parser


def cmd_infer(args: argparse.Namespace) -> int:
    from streamer.model import load_depth_model
    from streamer.pipeline.offline import InferOptions, prepare_output_dir, run_infer
    from streamer.pipeline.options import load_config

    from streamer.config.schema import parse_set
    from streamer.pipeline.offline_metric import MetricOutputs, load_anchors

    overrides = [parse_set(item) for item in args.set or []]
    overrides += [Override(f"model.{flag}", getattr(args, flag), f"--{flag}")
                  for flag in ("backend", "device", "threads", "precision") if getattr(args, flag) is not None]
    conf = load_config(args.config, overrides)
    prepare_output_dir(args.output_dir)  # before the model: a folder we cannot write fails in a second
    metric = None
    if args.ply and not conf["camera"].has_intrinsics:
        raise ConfigError("--ply needs the camera's intrinsics: [camera] fx, fy, cx, cy (with width, height) or "
                          "hfov_deg, from --config or --set camera.fx=...")
    if args.anchors is not None or args.ply:
        anchors = load_anchors(args.anchors) if args.anchors is not None else None
        metric = MetricOutputs(anchors, args.ply, conf["camera"], conf["metric"])
    options = InferOptions(output_dir=args.output_dir, view=args.view, raw=args.raw, color=conf["color"],
                           steady=conf["steady"], metric=metric)
    model = load_depth_model(conf["model"], weights_path=args.weights)
    if conf["model"].precision != "fp32":
        from streamer.model.precision.manager import apply_precision

        apply_precision(model, conf["model"], args.calibration, args.images)
    failed = run_infer(model, list(args.images), options)
    if failed:
        log.error("%d of %d inputs failed", failed, len(args.images))
        return EXIT_RUNTIME
    return 0


RUN_FLAGS = (("source", "source.url"), ("backend", "model.backend"), ("device", "model.device"),
             ("precision", "model.precision"),
             ("camera_id", "zmq.camera_id"), ("http_port", "http.port"), ("zmq_port", "zmq.port"),
             ("threads", "model.threads"))


def run_overrides(args: argparse.Namespace) -> list:
    """`--set` items, then the dedicated flags, as (key, value) overrides: values, never TOML text."""
    from streamer.config.schema import parse_set

    overrides = [parse_set(item) for item in args.set or []]
    for flag, key in RUN_FLAGS:
        value = getattr(args, flag, None)
        if value is not None:
            overrides.append(Override(key, value, f"--{flag.replace('_', '-')}"))
    return overrides


def cmd_run(args: argparse.Namespace) -> int:
    from streamer.config.toml import to_toml
    from streamer.service.daemon import Daemon

    daemon = Daemon(args.config, run_overrides(args), weights=args.weights)
    if args.check:
        from streamer.service.check import check_weights

        log.info("%s", check_weights(args.weights, daemon.conf["model"]))
        print(to_toml(daemon.conf))
        return 0
    return daemon.run()


def view_token(args: argparse.Namespace) -> str | None:
    """The viewer's bearer token: from --token-file, else $DEPTH_STREAMER_TOKEN, else None. Never from the command
    line itself, where every user on the machine reads it in `ps`."""
    if args.token is not None:
        raise ConfigError(f"--token is refused: the command line is visible to every user in `ps`; put the token in "
                          f"a file readable only by you and pass --token-file PATH, or set ${TOKEN_ENV}")
    if args.token_file is not None:
        try:
            token = args.token_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            why = getattr(exc, "strerror", None) or exc
            raise ConfigError(f"--token-file {args.token_file}: cannot read it ({why})") from None
        if not token:
            raise ConfigError(f"--token-file {args.token_file} is empty")
        return token
    return os.environ.get(TOKEN_ENV) or None


def cmd_view(args: argparse.Namespace) -> int:
    from streamer.client.viewer import ViewerError, run_viewer

    token = view_token(args)
    try:
        run_viewer(args.address, view=args.view, token=token)
        return 0
    except ViewerError as exc:
        raise StreamerError(str(exc)) from None


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


if __name__ == "__main__":
    sys.exit(main())
