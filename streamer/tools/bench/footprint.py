"""`depth-streamer bench footprint VIDEO`: one stream's resident memory, and where it goes, measured from outside.

Daemons one after another on VIDEO (looping, paced like a camera), each measured once it publishes and its
precision is decided (`precision_pending` false), after `settle_s`, as the median of RSS samples over `window_s`:
- fp32, uploads off; fp32 (uploads on, no photo yet): the floor, without any low precision;
- low precision, decided on this start (its own fresh verdict cache: calibration, quantisation, gate and race run
  in the process, as at a box's first start), then restarted (the kept verdict served, re-checked on live frames):
  `model.precision = auto`, the default config;
- the restart again just after one 640x480 photo upload (the uploads' session exists), and once it is released
  (`http.upload_keep_s` after the photo; 15 s here);
- the restart with glibc's default malloc arenas (MALLOC_ARENA_MAX = 8 x cores; the daemon caps them at 2 itself).
Each row splits RSS by kind of mapping (`measure.rss_parts`): engine libraries, other libraries, heap + anonymous
(networks, buffers, frames). RSS is valid on a loaded machine; the fps printed beside it is not a timing figure.
The ONNX export cache is shared with the user's (linked, so no export runs); the precision verdicts are private.
"""
from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from streamer.errors import StreamerError
from streamer.model.weights import cache_dir
from streamer.tools.bench.uploads import _photo, _post
from streamer.tools.measure import DaemonProcess, http_stats, load_1m, looping_video_args, rss_mb, rss_parts

TIMEOUT_S = 600.0  # a first start's decision on a busy 2-core box
GLIBC_ROW = "low precision, restart, glibc's default malloc arenas"
UPLOAD_KEEP_S = 15.0  # http.upload_keep_s of the restart row (the default, 60 s, would only make the bench longer)


def _decided(daemon: DaemonProcess) -> dict:
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline and daemon.alive():
        try:
            stats = http_stats(daemon.http_port)
            if stats.get("frames_out", 0) > 0 and not stats["model"].get("precision_pending", True):
                return stats
        except (OSError, KeyError):
            pass
        time.sleep(0.5)
    raise StreamerError("the daemon did not publish and decide its precision:\n" + daemon.log_tail())


def _measure(daemon: DaemonProcess, settle_s: float, window_s: float) -> dict:
    time.sleep(settle_s)
    frames0, t0 = http_stats(daemon.http_port)["frames_out"], time.monotonic()
    samples = []
    while time.monotonic() - t0 < window_s:
        samples.append(rss_mb(daemon.pid))
        time.sleep(0.5)
    stats = http_stats(daemon.http_port)
    model = stats["model"]
    maps = Path(f"/proc/{daemon.pid}/maps").read_text()
    return {"rss_mb": round(statistics.median(samples), 1), "rss_max_mb": round(max(samples), 1),
            "parts": rss_parts(daemon.pid), "precision": model.get("precision"),
            "origin": model.get("precision_origin"), "backend": model.get("backend"),
            "fps": round((stats["frames_out"] - frames0) / (time.monotonic() - t0), 1),
            "torch_mapped": "libtorch" in maps, "uploads_session": "photo network's session is built" in daemon.log}


def _row(name: str, args: list[str], env: dict[str, str], settle_s: float, window_s: float,
         upload: bool = False) -> dict:
    daemon = DaemonProcess(args, env=env, log_level="info").start()
    try:
        _decided(daemon)
        row = {"row": name, **_measure(daemon, settle_s, window_s)}
        print(_line(row), flush=True)
        if not upload:
            return row
        status, _ = _post(daemon.http_port, _photo(640, 480, ".jpg"), "image/jpeg")
        if status != 200:
            raise StreamerError(f"the photo upload answered HTTP {status}")
        after = {"row": "  just after one photo upload", **_measure(daemon, 1.0, min(window_s, UPLOAD_KEEP_S - 4))}
        print(_line(after), flush=True)
        deadline = time.monotonic() + UPLOAD_KEEP_S + 60
        while "the photo network's session is released" not in daemon.log and time.monotonic() < deadline:
            time.sleep(0.5)
        released = {"row": f"  {UPLOAD_KEEP_S:g} s later (upload_keep_s: session released)",
                    **_measure(daemon, settle_s, window_s)}
        print(_line(released), flush=True)
        return {**row, "after_upload": after, "after_release": released}
    finally:
        daemon.close()


def _line(row: dict) -> str:
    parts = ", ".join(f"{k} {v:.0f}" for k, v in sorted(row["parts"].items(), key=lambda kv: -kv[1]))
    return (f"  {row['row']:52s} {row['rss_mb']:6.0f} MB (max {row['rss_max_mb']:.0f}) {row['precision']}/"
            f"{row['origin']} on {row['backend']}, {row['fps']} fps; {parts}"
            + ("; torch MAPPED" if row["torch_mapped"] else "") + ("; uploads session" if row["uploads_session"]
                                                                     else ""))


def bench_footprint(video: str, weights: str | None, fps: float = 15.0, settle_s: float = 20.0,
                    window_s: float = 10.0, json_out: str | None = None) -> list[dict]:
    base = looping_video_args(video, weights, fps)
    fp32 = [*base, "--set", "model.precision=fp32"]
    low = [*base, "--set", "model.precision=auto"]
    off = ["--set", "http.max_uploads=0"]
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench-footprint-") as cache:
        exports = cache_dir() / "onnx"
        exports.mkdir(parents=True, exist_ok=True)
        os.symlink(exports, Path(cache) / "onnx")  # the user's exports: no export here; verdicts: this run's own
        env = {**os.environ, "DEPTH_STREAMER_CACHE": cache}
        env.pop("MALLOC_ARENA_MAX", None)  # the daemon's own cap, except in the row that sets glibc's default
        print(f"{video} paced at {fps} fps, one stream; RSS median over {window_s:.0f} s, {settle_s:.0f} s after the "
              f"precision is decided; load {load_1m()}", flush=True)
        rows.append(_row("fp32, uploads off", [*fp32, *off], env, settle_s, window_s))
        rows.append(_row("fp32", fp32, env, settle_s, window_s))
        rows.append(_row("low precision, first start (decided now)", low, env, settle_s, window_s))
        keep = ["--set", f"http.upload_keep_s={UPLOAD_KEEP_S}"]
        rows.append(_row("low precision, restart (kept verdict)", [*low, *keep], env, settle_s, window_s, upload=True))
        glibc = str(8 * (os.cpu_count() or 1))  # glibc's own default: the daemon caps them at 2 (core/memory.py)
        rows.append(_row(GLIBC_ROW, low, {**env, "MALLOC_ARENA_MAX": glibc}, settle_s, window_s))
    by = {r["row"]: r for r in rows}
    restart = by["low precision, restart (kept verdict)"]
    print(f"  low precision over fp32 (restart - fp32): {restart['rss_mb'] - by['fp32']['rss_mb']:+.0f} MB; "
          f"uploads' session after a photo: {restart['after_upload']['rss_mb'] - restart['rss_mb']:+.0f} MB, "
          f"released: {restart['after_release']['rss_mb'] - restart['rss_mb']:+.0f} MB; "
          f"the cap of 2 malloc arenas: {restart['rss_mb'] - by[GLIBC_ROW]['rss_mb']:+.0f} MB; "
          f"load {load_1m()}")
    if json_out:
        Path(json_out).write_text(json.dumps(rows, indent=1) + "\n")
    return rows
