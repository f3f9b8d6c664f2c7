"""`depth-streamer run`: the daemon (capture -> depth -> ZeroMQ + MJPEG preview), or `run --check`."""
from __future__ import annotations

import argparse
import logging
import os
import sys
import threading

import streamer.cli.flags as flags
from streamer.config.schema import Override

log = logging.getLogger("streamer")
# The dedicated flags as config keys (after --set, so a flag wins over --set of the same key).
RUN_FLAGS = (*flags.MODEL_FLAGS, ("camera_id", "zmq.camera_id"), ("http_port", "http.port"),
             ("zmq_port", "zmq.port"))


def register(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser("run", help="run the daemon: capture -> depth -> ZeroMQ + MJPEG preview")
    flags.add_config(r)
    r.add_argument("--source", action="append", metavar="[ID=]URL",
                   help="demo, /dev/videoN, rtsp://..., http://... or a video file (source.url); twice or more: one "
                        "stream each (ids cam0, cam1, ... or ID=URL's)")
    flags.add_weights(r, help="weights file (overrides $DEPTH_STREAMER_WEIGHTS and model.weights)")
    flags.add_network(r)
    flags.add_precision(r, help="network precision (model.precision); low precisions are gated against fp32 on "
                                "live frames")
    r.add_argument("--camera-id", dest="camera_id", help="camera id in every header (zmq.camera_id)")
    r.add_argument("--http-port", dest="http_port", type=flags.number(int, 0, 65535))
    r.add_argument("--zmq-port", dest="zmq_port", type=flags.number(int, 0, 65535))
    flags.add_set(r)
    r.add_argument("--check", action="store_true", help="validate the config and the weights, print the config "
                                                         "(secrets as ***), and exit")
    r.set_defaults(handler=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    from streamer.core.memory import limit_arenas

    limit_arenas()  # before any thread starts (core/memory.py)
    from streamer.pipeline.streams_config import effective_toml
    from streamer.service.daemon import Daemon

    daemon = Daemon(args.config, source_overrides(args.source) + flags.overrides(args, RUN_FLAGS),
                    weights=args.weights)
    if args.check:
        from streamer.service.check import check_weights

        log.info("%s", check_weights(args.weights, daemon.conf["model"]))
        print(effective_toml(daemon.conf))
        return 0
    code = daemon.run()
    exit_past_native_builds(code)
    return code


def source_overrides(sources: list[str] | None) -> list[Override]:
    """One --source: [source] url, as always; several: one stream each, replacing the config's [[streams]]."""
    from streamer.pipeline.streams_config import source_streams

    if not sources:
        return []
    if len(sources) == 1:
        return [Override("source.url", sources[0], "--source")]
    return [Override("streams", source_streams(sources), "--source")]


def exit_past_native_builds(code: int) -> None:
    """Everything is stopped; if a daemon thread is still inside native code (an int8 quantisation or an OpenVINO
    compile that a stop signal cannot interrupt), let the process end now with `code`. Left to the interpreter's
    finalisation, such a thread aborts the process ("terminate called without an active exception", exit 134), which
    systemd would count as a failure of a clean stop; its unfinished cache file is removed at the next start."""
    busy = [t.name for t in threading.enumerate() if t.daemon and t.is_alive()]
    if not busy:
        return
    log.info("exiting without waiting for %s (native work a signal cannot interrupt)", ", ".join(busy))
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
