"""`depth-streamer bench streams VIDEO`: several cameras in one daemon against one camera and against one daemon per
camera, measured from outside (the issue's targets: fps, drops, latency, RSS, start time).

Each phase is a daemon (or two, side by side) on VIDEO looping, paced like cameras or unpaced (lossless), measured
over `--seconds` once every stream publishes and the precision is decided:
- `one15`: one stream at 15 fps (the baseline for RSS and start time); `two15`: two streams at 15 fps each;
  `four7`: four at 7.5 fps; `mixed`: one at 30 fps beside one at 5 fps;
- `unpaced1`: one unpaced file (lossless); `unpaced2`: two in one daemon; `separate2`: two daemons of one each;
- `separate15`: two daemons of one stream at 15 fps each (RSS and fps against `two15`);
- `start4`: seconds from launch until all four streams publish, and how many precision decisions were made;
- `rtsp` (with `--rtsp-server SCRIPT`, e.g. the tests' GStreamer camera tests/sources/rtsp/server.py, run by the
  system python3; it prints "READY port=N url=URL"): one stream paced at 15 fps beside a real RTSP camera that is
  SIGKILLed: the paced stream's fps before and during the outage, and seconds until the camera's stream publishes
  again after its server is restarted.
Per stream: fps out, % of captured frames dropped, capture -> publish latency p50/p99 of the frames published in
the window (read from the depth headers by a ZeroMQ subscriber on every stream, as a robot's consumer reads them), RSS.
"""
from __future__ import annotations

import json
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import zmq

from streamer.errors import StreamerError
from streamer.tools.bench.pipeline import SETTLE_TIMEOUT_S, settled
from streamer.tools.measure import DaemonProcess, http_stats, load_1m, pcts, rss_mb

PHASES = ("one15", "two15", "four7", "mixed", "separate15", "unpaced1", "unpaced2", "separate2", "start4", "rtsp")


def config(video: str, rates: list[float | None], urls: tuple[str, ...] = ()) -> str:
    """A [[streams]] config: one stream per rate (fps paced; None: unpaced, lossless), all on `video`, looping; then
    one stream per camera URL (ids c0, c1, ...)."""
    text = "[source]\nloop = true\n[foxglove]\nenabled = false\n"  # the shipped reconnect backoff: as users run it
    for i, rate in enumerate(rates):
        pace = "pace = false\n" if rate is None else f"pace_fps = {rate}\n"
        text += f'\n[[streams]]\nid = "s{i}"\n[streams.source]\nurl = "{video}"\n{pace}'
    for i, url in enumerate(urls):
        text += f'\n[[streams]]\nid = "c{i}"\n[streams.source]\nurl = "{url}"\n'
    return text


def bench_streams(video: str, weights: str | None, seconds: float, precision: str, phases: list[str],
                  json_out: str | None = None, rtsp_server: str | None = None) -> list[dict]:
    unknown = [p for p in phases if p not in PHASES]
    if unknown:
        raise StreamerError(f"bench streams: unknown phase {unknown[0]!r}; phases are {', '.join(PHASES)}")
    folder = Path(tempfile.mkdtemp(prefix="ds-bench-streams-"))
    plans: dict[str, list[list[float | None]]] = {
        "one15": [[15]], "two15": [[15, 15]], "four7": [[7.5] * 4], "mixed": [[30, 5]], "separate15": [[15], [15]],
        "unpaced1": [[None]], "unpaced2": [[None, None]], "separate2": [[None], [None]], "start4": [[15] * 4]}
    if "rtsp" in phases and not rtsp_server:
        raise StreamerError("bench streams: the rtsp phase needs --rtsp-server SCRIPT (an RTSP camera stand-in)")
    print(f"bench streams: {video}, {seconds:g} s per phase, precision {precision}, load {load_1m()}")
    rows = []
    for name in phases:
        if name == "rtsp":
            assert rtsp_server is not None
            row = {"phase": name, **_rtsp(video, weights, seconds, precision, rtsp_server, folder)}
            rows.append(row)
            print(f"{name:<11} {row}", flush=True)
            continue
        daemons = []
        for i, rates in enumerate(plans[name]):
            path = folder / f"{name}{i}.toml"
            path.write_text(config(video, rates))
            args = ["--config", str(path), "--set", f"model.precision={precision}"]
            daemons.append(DaemonProcess(args + (["--weights", weights] if weights else []), log_level="info"))
        row = {"phase": name, **_measure(daemons, seconds, start_only=name == "start4")}
        rows.append(row)
        print(_format(row), flush=True)
    _summary(rows)
    if json_out:
        Path(json_out).write_text(json.dumps(rows, indent=1) + "\n")
    return rows


def _measure(daemons: list[DaemonProcess], seconds: float, start_only: bool) -> dict:
    t_launch = time.monotonic()
    for daemon in daemons:
        daemon.start()
    try:
        started = [_settle(d) for d in daemons]
        row: dict = {"start_s": round(max(started) - t_launch, 2), "load_1m": [load_1m()]}
        if start_only:
            row["precision_decisions"] = sum(sum("precision decided" in line for line in d.lines()) for d in daemons)
            return row
        readers = [_Latencies(d.zmq_port) for d in daemons]
        time.sleep(2.0)
        before = [(http_stats(d.http_port), time.monotonic()) for d in daemons]
        for reader in readers:
            reader.take()  # from here: the window's frames only
        time.sleep(seconds)
        after = [(http_stats(d.http_port), time.monotonic()) for d in daemons]
        latencies = [reader.take() for reader in readers]
        for reader in readers:
            reader.close()
        row["streams"] = {}
        for i, ((b, t0), (a, t1)) in enumerate(zip(before, after, strict=True)):
            for sid, s1 in _streams(a).items():
                s0 = _streams(b)[sid]
                captured = s1["source"]["frames"] - s0["source"]["frames"]
                window = latencies[i].get(sid, [])
                lat = pcts(window)
                row["streams"][f"d{i}.{sid}"] = {
                    "fps_out": round((s1["frames_out"] - s0["frames_out"]) / (t1 - t0), 2),
                    "dropped_pct": round(100.0 * (s1["dropped"] - s0["dropped"]) / captured, 2) if captured else None,
                    "p50_ms": lat.get("p50"), "p99_ms": lat.get("p99"), "latency_frames": len(window)}
        row["rss_mb"] = [round(rss_mb(d.pid)) for d in daemons]
        row["precision"] = [_streams(a)[next(iter(_streams(a)))]["model"].get("precision") for a, _ in after]
        row["load_1m"].append(load_1m())
        return row
    finally:
        for daemon in daemons:
            daemon.close()


class _Latencies(threading.Thread):
    """A SUB socket on every stream's depth topic: capture -> publish latency per stream, from the headers."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port, self._done, self._lock = port, threading.Event(), threading.Lock()
        self._ms: dict[str, list[float]] = {}
        self.start()

    def run(self) -> None:
        sock: zmq.Socket = zmq.Context.instance().socket(zmq.SUB)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SUBSCRIBE, b"depth")
        sock.connect(f"tcp://127.0.0.1:{self.port}")
        try:
            while not self._done.is_set():
                if sock.poll(200):
                    topic, header = sock.recv_multipart()[:2]
                    head = json.loads(header)
                    sid = topic.decode().partition("/")[2] or "s0"  # a single-stream daemon: "depth"
                    with self._lock:
                        self._ms.setdefault(sid, []).append((head["publish_mono"] - head["capture_mono"]) * 1e3)
        finally:
            sock.close()

    def take(self) -> dict[str, list[float]]:
        with self._lock:
            out, self._ms = self._ms, {}
        return out

    def close(self) -> None:
        self._done.set()
        self.join(2.0)


def _streams(stats: dict) -> dict:
    """Every stream's /stats block (a single-stream daemon's whole document is its one stream's)."""
    return stats.get("streams") or {"s0": stats}


def _settle(daemon: DaemonProcess) -> float:
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while True:
        if not daemon.alive():
            raise StreamerError("a daemon exited:\n" + daemon.log_tail())
        try:
            stats = http_stats(daemon.http_port)
            if settled(stats) and all(s["frames_out"] > 0 for s in _streams(stats).values()):
                return time.monotonic()
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise StreamerError("a daemon did not settle:\n" + daemon.log_tail())
        time.sleep(0.2)


def _format(row: dict) -> str:
    head = f"{row['phase']:<11} start {row['start_s']:6.2f} s"
    if "precision_decisions" in row:
        return f"{head}  precision decisions {row['precision_decisions']}  load {row['load_1m']}"
    streams = "  ".join(f"{sid} {s['fps_out']:.2f} fps drop {s['dropped_pct']}% p50 {s['p50_ms']} p99 {s['p99_ms']}"
                        for sid, s in row["streams"].items())
    return f"{head}  RSS {row['rss_mb']} MB  {row['precision']}  {streams}  load {row['load_1m']}"


def _summary(rows: list[dict]) -> None:
    """The issue's ratios, from the phases that ran."""
    by = {r["phase"]: r for r in rows}

    def total(name: str) -> float:
        return sum(s["fps_out"] for s in by[name]["streams"].values())

    if {"unpaced1", "unpaced2"} <= by.keys():
        print(f"2 unpaced files in one daemon: {total('unpaced2') / total('unpaced1'):.2f}x one file alone "
              f"(target >= 0.95)")
    if {"unpaced2", "separate2"} <= by.keys():
        print(f"2 unpaced files in one daemon: {total('unpaced2') / total('separate2'):.2f}x two daemons "
              f"(target >= 1.3)")
    if {"one15", "two15"} <= by.keys():
        one, two = by["one15"]["rss_mb"][0], by["two15"]["rss_mb"][0]
        print(f"RSS 2 streams {two} MB = {two / one:.2f}x one stream (target <= 1.15); one stream {one} MB "
              f"(target <= 450)")
    if {"two15", "separate15"} <= by.keys():
        print(f"RSS 2 streams vs two daemons: {by['two15']['rss_mb'][0] / sum(by['separate15']['rss_mb']):.2f}x "
              f"(target <= 0.6)")
    if {"one15", "start4"} <= by.keys():
        four, one_s = by["start4"], by["one15"]["start_s"]
        print(f"4 streams publish after {four['start_s']} s = {four['start_s'] / one_s:.2f}x one stream (target "
              f"<= 1.5), {four['precision_decisions']} precision decision(s) (target 1)")


def _rtsp(video: str, weights: str | None, seconds: float, precision: str, script: str, folder: Path) -> dict:
    """A paced stream beside a real RTSP camera that is killed and restarted (see the module's docstring)."""
    camera = _Camera(script, video)
    try:
        path = folder / "rtsp.toml"
        path.write_text(config(video, [15], (camera.start(),)))
        args = ["--config", str(path), "--set", f"model.precision={precision}"]
        daemon = DaemonProcess(args + (["--weights", weights] if weights else []), log_level="info").start()
        try:
            _settle(daemon)
            before = _window(daemon, seconds)
            camera.kill()
            time.sleep(2.0)  # the camera's stream has seen it (read timeout, closed connection)
            during = _window(daemon, seconds)
            frames = _streams(http_stats(daemon.http_port))["c0"]["frames_out"]
            restarted = time.monotonic()
            camera.start()
            back = None
            while back is None and time.monotonic() - restarted < 60.0:
                if _streams(http_stats(daemon.http_port))["c0"]["frames_out"] > frames:
                    back = round(time.monotonic() - restarted, 2)
                time.sleep(0.1)
            return {"paced_fps_before": before, "paced_fps_camera_down": during,
                    "ratio": round(during / before, 3) if before else None, "camera_back_s": back,
                    "load_1m": load_1m()}
        finally:
            daemon.close()
    finally:
        camera.kill()


def _window(daemon: DaemonProcess, seconds: float) -> float:
    """Frames a second the paced stream s0 published over the next `seconds`."""
    n0, t0 = _streams(http_stats(daemon.http_port))["s0"]["frames_out"], time.monotonic()
    time.sleep(seconds)
    n1, t1 = _streams(http_stats(daemon.http_port))["s0"]["frames_out"], time.monotonic()
    return round((n1 - n0) / (t1 - t0), 2)


class _Camera:
    """The RTSP stand-in script under the system python3, on one port across restarts."""

    def __init__(self, script: str, video: str) -> None:
        self.script, self.video, self.port = script, video, 0
        self.proc: subprocess.Popen | None = None

    def start(self, tries: int = 10) -> str:
        """Start and wait for READY: its URL. A killed server's port can linger a moment: a failed bind retries."""
        for _ in range(tries):
            self.proc = subprocess.Popen(["/usr/bin/python3", self.script, "--port", str(self.port), "--video",
                                          self.video], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                if line.startswith("READY"):
                    fields = dict(part.split("=", 1) for part in line.split()[1:])
                    self.port = int(fields["port"])
                    return fields["url"]
            self.proc.wait(5.0)
            time.sleep(0.5)
        raise StreamerError(f"the RTSP camera {self.script} exited without READY ({tries} tries)")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5.0)
