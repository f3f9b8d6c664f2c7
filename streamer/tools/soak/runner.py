"""`depth-streamer bench soak VIDEO`: one real daemon under realistic clients for minutes, measured from outside.

It works like this: a `depth-streamer run` subprocess loops VIDEO paced like a camera. N MJPEG viewer threads hold
/stream.mjpg open, a normal ZeroMQ subscriber reads everything, and a deliberately slow one (a message, then 1 s of
sleep) joins only after a baseline phase, so its effect on everyone else is a before/after comparison within the
same run. Every `sample_s` the main thread reads /stats (counters -> rates by delta) and /proc (RSS, threads, open
fds) and prints a row; at the end, on Ctrl-C or when the daemon dies, it prints a summary. Leaks show as RSS growth
after warm-up and as threads or fds that do not stay flat.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict
from pathlib import Path

import zmq

from streamer.errors import EXIT_RUNTIME, StreamerError
from streamer.tools.measure import DaemonProcess, http_stats, looping_video_args
from streamer.tools.soak.clients import READ_TIMEOUT_S, SLOW_PAUSE_S, MjpegViewer, ZmqReader
from streamer.tools.soak.options import SoakOptions
from streamer.tools.soak.report import HEADER, Sampler, format_row, print_summary, summarize

START_TIMEOUT_S = 120.0  # import + weights + a cold ONNX export, on a busy small machine
STOP_GRACE_S = 5.0  # SIGTERM, then SIGKILL after this long


def run_soak(opts: SoakOptions, json_out: str | None = None) -> int:
    """Run the soak and print the summary; the exit status is 0 unless the daemon died."""
    with_slow = opts.zmq_subscribers >= 2
    print(f"soak: {opts.video} looping at {opts.paced_fps:g} fps for {opts.minutes:g} min, a sample every "
          f"{opts.sample_s:g} s; {opts.mjpeg_clients} MJPEG viewers, {opts.zmq_subscribers - with_slow} normal "
          f"ZeroMQ subscriber(s)" + (f", a slow one from t={opts.baseline_s:g} s" if with_slow else ""), flush=True)
    stop = threading.Event()
    daemon = DaemonProcess(looping_video_args(opts.video, opts.weights, opts.paced_fps,
                                              "--set", f"http.max_clients={max(8, opts.mjpeg_clients)}",
                                              "--set", f"model.precision={opts.precision}"),
                           log_level="warning").start()
    ctx = zmq.Context()
    normals = [ZmqReader(ctx, daemon.zmq_port, stop, f"sub{i}") for i in range(opts.zmq_subscribers - with_slow)]
    slow = ZmqReader(ctx, daemon.zmq_port, stop, "slow", pause_s=SLOW_PAUSE_S) if with_slow else None
    viewers = [MjpegViewer(daemon.http_port, stop, i) for i in range(opts.mjpeg_clients)]
    samples: list[dict] = []
    sampler: Sampler | None = None
    interrupted = False
    try:
        for reader in normals:
            reader.start()
        _wait_ready(daemon, normals[0])
        for viewer in viewers:
            viewer.start()
        sampler = Sampler(daemon, viewers, normals, slow)
        t0 = time.monotonic()
        print(HEADER, flush=True)
        while daemon.alive():
            t = time.monotonic() - t0
            due = (len(samples) + 1) * opts.sample_s
            if t < due:
                time.sleep(min(0.5, due - t))  # short naps: a dead daemon is noticed within half a second
                continue
            phase = "-" if slow is None else "slow" if slow.is_alive() else "base"
            samples.append(sampler.sample(t, phase))
            print(format_row(samples[-1]), flush=True)
            if t >= opts.duration_s - 0.5:
                break
            if slow is not None and not slow.is_alive() and t >= opts.baseline_s - 0.5:
                slow.start()
    except KeyboardInterrupt:
        interrupted = True
        print("\ninterrupted: stopping the clients and the daemon ...", flush=True)
    finally:
        died_rc = daemon.proc.poll() if daemon.proc is not None else None  # exited before we stopped it
        stop.set()
        stopped_rc = daemon.close(STOP_GRACE_S)  # first, so viewers blocked on a read see the connection close
        readers = [*normals, *([slow] if slow else [])]
        for thread in [*readers, *viewers]:
            if thread.is_alive():
                thread.join(READ_TIMEOUT_S + 1)
        if not any(r.is_alive() for r in readers):  # term() would wait forever on a socket still open
            ctx.term()
    if died_rc is not None:
        print(f"\nthe daemon DIED (exit status {died_rc}); its last log lines:\n{_indent(daemon.log_tail())}")
    summary = summarize(opts, samples, sampler, viewers, normals, slow)
    summary.update(daemon_died=died_rc is not None, daemon_exit=died_rc if died_rc is not None else stopped_rc,
                   interrupted=interrupted)
    print_summary(summary)
    if json_out:
        Path(json_out).write_text(json.dumps({"options": asdict(opts), "samples": samples, "summary": summary},
                                             indent=1) + "\n")
        print(f"samples and summary written to {json_out}")
    return EXIT_RUNTIME if died_rc is not None else 0


def _wait_ready(daemon: DaemonProcess, reader: ZmqReader) -> None:
    """Until the first depth frame arrives and /stats answers; bounded, and loud with the log if the daemon dies."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if not daemon.alive():
            raise StreamerError(f"the daemon exited (status {daemon.wait_exit(1.0)}) before its first frame:\n  "
                                + _indent(daemon.log_tail()))
        if reader.first_frame.wait(0.2):
            try:
                http_stats(daemon.http_port)
                return
            except (OSError, ValueError):
                pass  # not answering yet: try again
    raise StreamerError(f"no frame from the daemon within {START_TIMEOUT_S:g} s:\n{_indent(daemon.log_tail())}")


def _indent(text: str) -> str:
    return "  " + text.replace("\n", "\n  ")

