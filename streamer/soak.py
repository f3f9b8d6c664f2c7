"""`depth-streamer bench --soak VIDEO`: one real daemon under realistic clients for minutes, measured from outside.

It works like this: a `depth-streamer run` subprocess loops VIDEO paced like a camera. N MJPEG viewer threads hold
/stream.mjpg open, a normal ZeroMQ subscriber reads everything, and a deliberately slow one (a message, then 1 s of
sleep) joins only after a baseline phase, so its effect on everyone else is a before/after comparison within the
same run. Every `sample_s` the main thread reads /stats (counters -> rates by delta) and /proc (RSS, threads, open
fds) and prints a row; at the end, on Ctrl-C or when the daemon dies, it prints a summary. Leaks show as RSS growth
after warm-up and as threads or fds that do not stay flat.
"""
from __future__ import annotations

import ctypes
import json
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import zmq

from .errors import EXIT_RUNTIME, StreamerError
from .measure import fd_count, free_port, http_stats, load_1m, pcts, rss_mb, thread_count

START_TIMEOUT_S = 120.0  # import + weights + a cold ONNX export, on a busy small machine
BASELINE_S = 30.0  # the first phase runs without the slow subscriber ...
WARMUP_S = 60.0  # ... and RSS growth is judged from the first sample after this
RSS_TARGET_PCT = 10.0
STOP_GRACE_S = 5.0  # SIGTERM, then SIGKILL after this long
READ_TIMEOUT_S = 5.0  # a client socket silent this long counts as dropped (the daemon sends 30 parts/s)
SLOW_PAUSE_S = 1.0


@dataclass(frozen=True)
class SoakOptions:
    video: str
    weights: str | None = None
    minutes: float = 10.0
    paced_fps: float = 30.0
    mjpeg_clients: int = 5
    zmq_subscribers: int = 2  # the last one is the slow one when there are two or more
    sample_s: float = 10.0

    def __post_init__(self) -> None:
        if not Path(self.video).is_file():
            raise StreamerError(f"--soak: no such video file: {self.video}")
        if self.minutes <= 0 or self.sample_s <= 0 or self.paced_fps <= 0:
            raise StreamerError("--soak: --minutes, --sample-s and --paced-fps must be positive")
        if self.mjpeg_clients < 0 or self.zmq_subscribers < 1:
            raise StreamerError("--soak: needs --zmq-subscribers >= 1 (the first one measures latency) and "
                                "--mjpeg-clients >= 0")

    @property
    def duration_s(self) -> float:
        return self.minutes * 60.0

    @property
    def baseline_s(self) -> float:
        # Short runs get half their time as baseline; the slow subscriber joins on a sample boundary so that every
        # sample belongs wholly to one phase.
        return max(1, round(min(BASELINE_S, self.duration_s / 2) / self.sample_s)) * self.sample_s

    @property
    def warmup_s(self) -> float:
        return min(WARMUP_S, self.duration_s / 2)


class DaemonProcess:
    """The daemon under test. In its own session, so a Ctrl-C reaches only us and we stop it in order; and told to
    get SIGTERM if we die, so a killed soak never leaves a looping daemon behind."""

    def __init__(self, opts: SoakOptions) -> None:
        self.zmq_port, self.http_port = free_port(), free_port()
        cmd = [sys.executable, "-m", "streamer", "--log-level", "warning", "run", "--source", opts.video,
               "--set", "source.loop=true", "--set", f"source.pace_fps={opts.paced_fps}",
               "--set", f"http.max_clients={max(8, opts.mjpeg_clients)}",
               "--zmq-port", str(self.zmq_port), "--http-port", str(self.http_port)]
        if opts.weights:
            cmd += ["--weights", opts.weights]
        self.log_tail: deque[str] = deque(maxlen=30)
        libc = ctypes.CDLL(None, use_errno=True)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, start_new_session=True,
                                     preexec_fn=lambda: libc.prctl(1, signal.SIGTERM))  # 1 = PR_SET_PDEATHSIG
        # Drain the log so the daemon never blocks on a full pipe; keep the tail to show if it dies.
        threading.Thread(target=self._drain, name="daemon-log", daemon=True).start()

    def _drain(self) -> None:
        for line in self.proc.stderr:  # type: ignore[union-attr]
            self.log_tail.append(line.rstrip())

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_GRACE_S)
        return self.proc.returncode


class MjpegViewer(threading.Thread):
    """A viewer holding /stream.mjpg open, counting JPEG parts; reconnects (counted) whenever the stream drops."""

    def __init__(self, port: int, stop: threading.Event, index: int) -> None:
        super().__init__(name=f"mjpeg-viewer-{index}", daemon=True)
        self.port, self.stop = port, stop
        self.parts = 0  # frames, and "no signal" frames, received
        self.reconnects = 0
        self.last_error = ""

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self._watch()
            except (OSError, ValueError) as exc:  # refused, reset, timed out, or a malformed part
                self.last_error = repr(exc)
            if not self.stop.wait(0.5):
                self.reconnects += 1

    def _watch(self) -> None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=READ_TIMEOUT_S) as sock, \
                sock.makefile("rb") as stream:
            sock.sendall(b"GET /stream.mjpg HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            status = stream.readline(1024)
            if b" 200 " not in status:
                raise ValueError(f"stream answered {status.strip()!r}")
            _read_head(stream)
            while not self.stop.is_set():
                head = _read_head(stream)  # "--boundary" line, then the part's headers
                size = int(head.get(b"content-length", b"-1"))
                if size < 0 or len(stream.read(size)) != size:
                    raise ValueError("part without its JPEG")
                stream.readline(16)  # the CRLF after the JPEG
                self.parts += 1


def _read_head(stream) -> dict[bytes, bytes]:  # type: ignore[no-untyped-def]
    headers: dict[bytes, bytes] = {}
    for _ in range(64):  # bounded: a stream that never sends a blank line is malformed
        line = stream.readline(8192)
        if not line:
            raise ConnectionError("stream ended")
        if line in (b"\r\n", b"\n"):
            return headers
        name, sep, value = line.partition(b":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    raise ValueError("part head too long")


class ZmqReader(threading.Thread):
    """A SUB socket on every topic. With `pause_s` it is the deliberately slow subscriber: one message, then sleep."""

    def __init__(self, ctx: zmq.Context, port: int, stop: threading.Event, name: str, pause_s: float = 0.0) -> None:
        super().__init__(name=f"zmq-{name}", daemon=True)
        self.ctx, self.port, self.stop, self.pause_s = ctx, port, stop, pause_s
        self.messages = 0  # all topics
        self.frames = 0  # depth messages
        self.gaps = 0  # depth seq numbers skipped (dropped anywhere: pipeline or this socket)
        self.first_frame = threading.Event()
        self._last_seq: int | None = None
        self._lock = threading.Lock()  # guards the two lists below, swapped out by the sampler
        self._latency_ms: list[float] = []
        self._ages_s: list[float] = []

    def run(self) -> None:
        sock = self.ctx.socket(zmq.SUB)  # created, used and closed by this thread: zmq sockets are not thread-safe
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SUBSCRIBE, b"")
        sock.connect(f"tcp://127.0.0.1:{self.port}")
        try:
            while not self.stop.is_set():
                if sock.poll(200):
                    topic, header, _ = sock.recv_multipart(copy=False)
                    self._count(topic.bytes, json.loads(header.bytes))
                    if self.pause_s:
                        self.stop.wait(self.pause_s)
        finally:
            sock.close()

    def _count(self, topic: bytes, header: dict) -> None:
        self.messages += 1
        if topic != b"depth":
            return
        seq = header["seq"]
        if self._last_seq is not None and seq > self._last_seq + 1:
            self.gaps += seq - self._last_seq - 1
        self._last_seq = seq
        self.frames += 1
        with self._lock:  # both clocks are the daemon's monotonic clock on this host
            self._latency_ms.append((header["publish_mono"] - header["capture_mono"]) * 1e3)
            self._ages_s.append(time.monotonic() - header["capture_mono"])
        self.first_frame.set()

    def take(self) -> tuple[list[float], list[float]]:
        """(capture -> publish latencies in ms, capture -> received-here ages in s) since the last call."""
        with self._lock:
            out = self._latency_ms, self._ages_s
            self._latency_ms, self._ages_s = [], []
        return out


class LatencyHistogram:
    """0.5 ms bins up to 10 s: percentiles over hours of frames in constant memory."""

    BIN_MS, BINS = 0.5, 20_000

    def __init__(self) -> None:
        self.counts = np.zeros(self.BINS, np.int64)

    def add(self, values_ms: list[float]) -> None:
        if values_ms:
            idx = np.clip((np.asarray(values_ms) / self.BIN_MS).astype(np.int64), 0, self.BINS - 1)
            self.counts += np.bincount(idx, minlength=self.BINS)

    def percentile(self, q: float) -> float | None:
        total = int(self.counts.sum())
        if not total:
            return None
        return round((int(np.searchsorted(np.cumsum(self.counts), q / 100 * total)) + 0.5) * self.BIN_MS, 1)


class Sampler:
    """Turns counters read every `sample_s` into per-interval rates; all baselines advance together, and only on a
    good /stats read, so every delta in a row covers the same interval."""

    def __init__(self, daemon: DaemonProcess, viewers: list[MjpegViewer], readers: list[ZmqReader],
                 slow: ZmqReader | None) -> None:
        self.daemon, self.viewers, self.slow = daemon, viewers, slow
        self.readers = readers + ([slow] if slow else [])  # readers[0]: the normal one that measures latency
        self.latency = LatencyHistogram()
        self._prev = self._read()

    def _read(self) -> dict:
        return {"mono": time.monotonic(), "stats": http_stats(self.daemon.http_port),
                "parts": [v.parts for v in self.viewers],
                "readers": [(r.messages, r.frames, r.gaps) for r in self.readers]}

    def sample(self, t_s: float, phase: str) -> dict:
        pid = self.daemon.proc.pid
        row: dict = {"t_s": round(t_s, 1), "phase": phase, "rss_mb": round(rss_mb(pid), 1),
                     "threads": thread_count(pid), "fds": fd_count(pid), "load_1m": load_1m()}
        taken = [r.take() for r in self.readers]  # from every reader, so no list grows without bound
        latency, ages = taken[0][0], (taken[-1][1] if self.slow else [])
        self.latency.add(latency)
        row["latency_ms"] = pcts(latency)
        row["slow_max_age_s"] = round(max(ages), 2) if ages else None
        try:
            now = self._read()
        except (OSError, ValueError) as exc:  # a busy or dying daemon: keep the /proc part of the row
            row["stats_error"] = repr(exc)
            return row
        prev, self._prev = self._prev, now
        dt = now["mono"] - prev["mono"]
        s, p = now["stats"], prev["stats"]
        sent = s["publishers"]["zmq-publisher"]["sent"] - p["publishers"]["zmq-publisher"]["sent"]
        (_, got0, gaps0), *_ = prev["readers"]
        (_, got1, gaps1), *_ = now["readers"]
        row.update({
            "fps_in": round((s["source"]["frames"] - p["source"]["frames"]) / dt, 2),
            "fps_out": round((s["frames_out"] - p["frames_out"]) / dt, 2),
            "dropped_slot": s["dropped"] - p["dropped"],  # captured frames the network never saw (newest wins)
            "dropped_publishers": {name: c["dropped"] - p["publishers"][name]["dropped"]
                                   for name, c in s["publishers"].items()},
            "zmq_sent": sent,
            "sub_received": got1 - got0,
            "sub_missed": max(0, sent - (got1 - got0)),  # sent by the daemon, never seen by the normal subscriber
            "sub_gaps": gaps1 - gaps0,
            "mjpeg_fps": [round((b - a) / dt, 1) for a, b in zip(prev["parts"], now["parts"], strict=True)],
            "mjpeg_reconnects": sum(v.reconnects for v in self.viewers),
        })
        if self.slow:
            (msgs0, _, slow_gaps0), (msgs1, _, slow_gaps1) = prev["readers"][-1], now["readers"][-1]
            row.update({"slow_received": msgs1 - msgs0, "slow_gaps": slow_gaps1 - slow_gaps0})
        return row


HEADER = (f"{'t/s':>6} {'phase':>5} {'in/s':>5} {'out/s':>5} {'slot':>5} {'zmq':>4} {'mjpg':>4} {'p50ms':>6} "
          f"{'p99ms':>6} {'RSS MB':>7} {'thr':>4} {'fds':>4} {'mjpeg/s min-max':>15} {'recon':>5} "
          f"{'miss':>4} {'gaps':>5} {'slow gaps':>9} {'load':>5}")


def format_row(r: dict) -> str:
    def num(key: str, fmt: str, width: int) -> str:
        value = r.get(key)
        return f"{value:{width}{fmt}}" if value is not None else f"{'-':>{width}}"

    drops = r.get("dropped_publishers", {})
    mjpeg = r.get("mjpeg_fps") or []
    span = f"{min(mjpeg):.1f}-{max(mjpeg):.1f}" if mjpeg else "-"
    lat = r.get("latency_ms") or {}
    error = f"  /stats: {r['stats_error']}" if "stats_error" in r else ""
    return (f"{r['t_s']:6.0f} {r['phase']:>5} {num('fps_in', '.1f', 5)} {num('fps_out', '.1f', 5)} "
            f"{num('dropped_slot', 'd', 5)} {drops.get('zmq-publisher', '-'):>4} "
            f"{drops.get('mjpeg-publisher', '-'):>4} {lat.get('p50', '-'):>6} {lat.get('p99', '-'):>6} "
            f"{num('rss_mb', '.1f', 7)} {num('threads', 'd', 4)} {num('fds', 'd', 4)} {span:>15} "
            f"{num('mjpeg_reconnects', 'd', 5)} {num('sub_missed', 'd', 4)} {num('sub_gaps', 'd', 5)} "
            f"{num('slow_gaps', 'd', 9)} {num('load_1m', '.2f', 5)}{error}")


def run_soak(opts: SoakOptions, json_out: str | None = None) -> int:
    """Run the soak and print the summary; the exit status is 0 unless the daemon died."""
    with_slow = opts.zmq_subscribers >= 2
    print(f"soak: {opts.video} looping at {opts.paced_fps:g} fps for {opts.minutes:g} min, a sample every "
          f"{opts.sample_s:g} s; {opts.mjpeg_clients} MJPEG viewers, {opts.zmq_subscribers - with_slow} normal "
          f"ZeroMQ subscriber(s)" + (f", a slow one from t={opts.baseline_s:g} s" if with_slow else ""), flush=True)
    stop = threading.Event()
    daemon = DaemonProcess(opts)
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
        died_rc = daemon.proc.poll()  # exited before we stopped it
        stop.set()
        stopped_rc = daemon.stop()  # first, so viewers blocked on a read see the connection close
        readers = [*normals, *([slow] if slow else [])]
        for thread in [*readers, *viewers]:
            if thread.is_alive():
                thread.join(READ_TIMEOUT_S + 1)
        if not any(r.is_alive() for r in readers):  # term() would wait forever on a socket still open
            ctx.term()
    if died_rc is not None:
        print(f"\nthe daemon DIED (exit status {died_rc}); its last log lines:\n  " + "\n  ".join(daemon.log_tail))
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
            raise StreamerError(f"the daemon exited (status {daemon.proc.returncode}) before its first frame:\n  "
                                + "\n  ".join(daemon.log_tail))
        if reader.first_frame.wait(0.2):
            try:
                http_stats(daemon.http_port)
                return
            except (OSError, ValueError):
                pass  # not answering yet: try again
    raise StreamerError(f"no frame from the daemon within {START_TIMEOUT_S:g} s:\n  " + "\n  ".join(daemon.log_tail))


def summarize(opts: SoakOptions, samples: list[dict], sampler: Sampler | None, viewers: list[MjpegViewer],
              normals: list[ZmqReader], slow: ZmqReader | None) -> dict:
    good = [s for s in samples if "fps_out" in s]  # rows with a /stats read
    warm = next((s for s in samples if s["t_s"] >= opts.warmup_s), None)
    last = samples[-1] if samples else None
    growth = None
    if warm and last and last is not warm and warm["rss_mb"] > 0:
        growth = round((last["rss_mb"] - warm["rss_mb"]) / warm["rss_mb"] * 100, 2)
    # Flat is judged once everything is connected: the slow subscriber's socket is one more fd in the daemon.
    settled = [s for s in samples if s["t_s"] >= opts.warmup_s and s["phase"] != "base"]
    fps_out = [s["fps_out"] for s in good]
    publishers = sorted({name for s in good for name in s["dropped_publishers"]})
    latency = sampler.latency if sampler else LatencyHistogram()
    return {
        "duration_s": last["t_s"] if last else 0.0, "samples": len(samples),
        "rss_mb": {"warm_at_s": warm and warm["t_s"], "warm": warm and warm["rss_mb"], "last": last and last["rss_mb"],
                   "growth_pct": growth, "target_pct": RSS_TARGET_PCT,
                   "ok": growth is not None and growth < RSS_TARGET_PCT},
        "threads": _span("threads", samples, settled), "fds": _span("fds", samples, settled),
        "fps_in_mean": _mean(s["fps_in"] for s in good),
        "fps_out": {"mean": _mean(fps_out), "min": min(fps_out) if fps_out else None},
        "dropped": {"slot": sum(s["dropped_slot"] for s in good),
                    **{p: sum(s["dropped_publishers"].get(p, 0) for s in good) for p in publishers}},
        "latency_ms": {"p50": latency.percentile(50), "p99": latency.percentile(99),
                       "frames": int(latency.counts.sum())},
        "mjpeg": {"parts": [v.parts for v in viewers], "reconnects": sum(v.reconnects for v in viewers),
                  "fps_mean": [_mean(s["mjpeg_fps"][i] for s in good) for i in range(len(viewers))]},
        "zmq": {"normal_frames": [r.frames for r in normals], "normal_gaps": [r.gaps for r in normals],
                "slow_messages": slow.messages if slow else None, "slow_gaps": slow.gaps if slow else None,
                "slow_max_age_s": max((s["slow_max_age_s"] for s in samples if s["slow_max_age_s"]), default=None)},
        "slow_effect": _slow_effect(good),
    }


def _slow_effect(rows: list[dict]) -> dict:
    """Did the slow subscriber cost anyone else? Same run, before and after it joined: the normal subscriber's share
    of sent frames it never saw, and the daemon's output rate. Thresholds leave room for a noisy machine."""
    def phase(name: str) -> dict | None:
        picked = [r for r in rows if r["phase"] == name]
        sent = sum(r["zmq_sent"] for r in picked)
        if not picked or not sent:
            return None
        return {"samples": len(picked), "fps_out_mean": _mean(r["fps_out"] for r in picked),
                "normal_missed_pct": round(100 * sum(r["sub_missed"] for r in picked) / sent, 2),
                "normal_gaps": sum(r["sub_gaps"] for r in picked),
                "zmq_publisher_drops": sum(r["dropped_publishers"].get("zmq-publisher", 0) for r in picked)}

    base, with_slow = phase("base"), phase("slow")
    if not (base and with_slow):
        return {"baseline": base, "with_slow": with_slow, "affected_others": None}
    # Two signs, kept apart: lost frames point at the transport; a lower fps_out on a CPU-bound daemon may just
    # be load from elsewhere (see load_1m), so it is reported, not blamed.
    lost = with_slow["normal_missed_pct"] > base["normal_missed_pct"] + 1.0
    slower = with_slow["fps_out_mean"] < 0.9 * base["fps_out_mean"]
    return {"baseline": base, "with_slow": with_slow, "normal_subscriber_lost_frames": lost,
            "fps_out_fell_10pct": slower, "affected_others": lost or slower}


def _span(key: str, rows: list[dict], settled: list[dict]) -> dict:
    values = [r[key] for r in rows if r.get(key) is not None]
    late = {r[key] for r in settled if r.get(key) is not None}
    return {"min": min(values, default=None), "max": max(values, default=None),
            "flat_when_settled": len(late) == 1 if late else None}


def _mean(values) -> float | None:  # type: ignore[no-untyped-def]
    values = list(values)
    return round(statistics.fmean(values), 2) if values else None


def print_summary(s: dict) -> None:
    rss, eff = s["rss_mb"], s["slow_effect"]
    flat = {True: "flat", False: "NOT flat", None: "n/a"}
    state = "DIED" if s["daemon_died"] else "alive until we stopped it"
    print(f"\nsummary: {s['duration_s']:g} s, {s['samples']} samples; daemon {state} (exit {s['daemon_exit']})"
          + ("; interrupted" if s["interrupted"] else ""))
    if rss["growth_pct"] is None:
        print(f"  RSS       last {rss['last']} MB; growth n/a (no sample after the warm-up and before the last)")
    else:
        print(f"  RSS       {rss['warm']} MB at t={rss['warm_at_s']:g} s -> {rss['last']} MB: {rss['growth_pct']:+} % "
              f"(target < {rss['target_pct']:g} %: {'ok' if rss['ok'] else 'OVER'})")
    th, fd = s["threads"], s["fds"]
    print(f"  threads   {th['min']}..{th['max']}, {flat[th['flat_when_settled']]}; fds {fd['min']}..{fd['max']}, "
          f"{flat[fd['flat_when_settled']]} (target flat after warm-up with every client connected)")
    print(f"  fps       in {s['fps_in_mean']} mean; out {s['fps_out']['mean']} mean, {s['fps_out']['min']} min")
    print("  dropped   " + ", ".join(f"{k} {v}" for k, v in s["dropped"].items())
          + "  (slot: captured frames the network never saw, newest wins)")
    lat = s["latency_ms"]
    print(f"  latency   capture->publish p50 {lat['p50']} ms, p99 {lat['p99']} ms over {lat['frames']} frames")
    m, z = s["mjpeg"], s["zmq"]
    print(f"  MJPEG     {len(m['parts'])} viewers, parts/s each {m['fps_mean']}, {m['reconnects']} reconnects")
    slow = "" if z["slow_messages"] is None else \
        f"; slow one {z['slow_messages']} messages, {z['slow_gaps']} seq gaps, frames up to {z['slow_max_age_s']} s old"
    print(f"  ZeroMQ    normal subscriber(s) {z['normal_frames']} frames, {z['normal_gaps']} seq gaps{slow}")
    if eff["affected_others"] is None:
        print("  slow subscriber effect: n/a (needs samples both before and after it joined)")
        return
    b, w = eff["baseline"], eff["with_slow"]
    signs = [name for key, name in (("normal_subscriber_lost_frames", "normal subscriber lost frames"),
                                    ("fps_out_fell_10pct", "fps_out fell > 10 %")) if eff[key]]
    print(f"  slow subscriber effect on the others: {'YES: ' + ', '.join(signs) if signs else 'none'} "
          f"(fps_out {b['fps_out_mean']} -> {w['fps_out_mean']}, normal subscriber missed "
          f"{b['normal_missed_pct']} % -> {w['normal_missed_pct']} % of sent frames, zmq-publisher drops "
          f"{b['zmq_publisher_drops']} -> {w['zmq_publisher_drops']})")
