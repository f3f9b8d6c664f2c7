"""`depth-streamer bench batch VIDEO`: the batch executors against the daemon, all in one run.

(a) the daemon's lossless run on VIDEO (`bench pipeline`'s (c): the file unpaced, every frame through the network
    once): frames per second - the baseline;
(b) `batch --executor local` over CLIPS copies of VIDEO: frames per second over the whole run (start-up included),
    and each worker process's peak RSS;
(c) `batch --executor ray` over the same copies on a one-node Ray cluster started here (as many CPUs as cores,
    as many actors as (b) had workers): frames per second, each actor's peak RSS.
Targets (issue 25): (b) >= 0.9 x (a); (c) >= 0.85 x (b).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from streamer.batch.local import cores, default_workers
from streamer.batch.manifest import NAME
from streamer.errors import StreamerError
from streamer.model.weights import resolve_weights_path
from streamer.tools.bench.pipeline import measure_daemon
from streamer.tools.measure import load_1m, rss_mb
from streamer.tools.raycluster import local_cluster


def children(pid: int) -> list[int]:
    """Every descendant of `pid` (from /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def run_batch(args: list[str], env: dict, watch: int | None, marker: str) -> dict:
    """One `batch` run; frames/s over the run and, read every half second, for each process whose command line has
    `marker` among the descendants of the batch process (or of `watch`: the Ray nodes' process groups' leaders): its
    peak RSS (VmHWM: loading the model included) and its working peak (the most VmRSS read once the bar had frames:
    what it holds while it streams frames); and the driver's peak (it assembles the bags)."""
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "streamer", "--log-level", "warning", "batch", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    err: list[str] = []
    reader = threading.Thread(target=_lines, args=(proc.stderr, err), daemon=True)  # a full pipe would stall it
    reader.start()
    peaks: dict[int, float] = {}
    working: dict[int, float] = {}
    driver, framing = 0.0, False
    while proc.poll() is None:
        framing = framing or any(line.startswith("batch [") for line in err[-50:])
        for pid in children(watch or proc.pid):
            if marker in cmdline(pid):
                peaks[pid] = max(peaks.get(pid, 0.0), rss_mb(pid, "VmHWM"))
                if framing:
                    working[pid] = max(working.get(pid, 0.0), rss_mb(pid))
        driver = max(driver, rss_mb(proc.pid, "VmHWM"))
        time.sleep(0.5)
    wall = time.monotonic() - t0
    out = proc.stdout.read() if proc.stdout else ""
    reader.join(10.0)
    if proc.returncode != 0:
        raise StreamerError(f"batch failed ({proc.returncode}):\n{''.join(err)[-3000:]}")
    return {"wall_s": wall, "stdout": out, "rss_mb": sorted(round(v, 1) for v in peaks.values() if v > 0),
            "working_rss_mb": sorted(round(v, 1) for v in working.values() if v > 0),
            "driver_rss_mb": round(driver, 1)}


def _lines(stream: Any, into: list[str]) -> None:
    for line in stream:
        into.append(line)


def frames_done(out: Path, units: int) -> tuple[int, float]:
    """(frames, frames/s while the workers ran units: start-up and model loading left out) from the manifest."""
    rows = [json.loads(line) for line in (out / NAME).read_text().splitlines() if '"done"' in line]
    if len(rows) != units:
        raise StreamerError(f"{out}: {len(rows)} units done, expected {units}: the figures would be another job's")
    busy: dict[str, float] = {}
    for r in rows:
        busy[r["worker"]] = busy.get(r["worker"], 0.0) + float(r["seconds"])
    frames = sum(int(r["frames"]) for r in rows)
    return frames, frames / max(busy.values()) if busy else 0.0


def bench_batch(video: str, weights: str | None, clips: int, seconds: float, precision: str,
                ray: bool = True) -> dict:
    weights_path = str(resolve_weights_path(weights))
    if not Path(weights_path).is_file():
        raise StreamerError(f"bench batch needs weights: {weights_path} does not exist (pass --weights)")
    workers = default_workers(clips)
    print(f"video {video} x {clips} clips; weights {weights_path}; {cores()} cores, {workers} local workers; "
          f"precision {precision}; load {load_1m()}\n")
    results: dict = {}
    print("(a) the daemon, lossless (file unpaced) ...", flush=True)
    daemon = measure_daemon(["--source", video, "--weights", weights_path, "--set", "source.loop=true",
                             "--set", "source.pace=false", "--set", f"model.precision={precision}"], seconds, False)
    results["daemon_lossless"] = {"fps": daemon["fps_out"], "rss_mb": daemon["rss_mb"],
                                  "precision": daemon["precision"]}
    print(f"    {daemon['fps_out']:.1f} fps ({daemon['precision']}), RSS {daemon['rss_mb']} MB")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        root = Path(tmp)
        inputs = []
        for i in range(clips):  # copies, not links: batch takes a file named twice (or linked) once
            inputs.append(root / f"clip{i}{Path(video).suffix}")
            shutil.copyfile(video, inputs[-1])
        common = [*map(str, inputs), "--weights", weights_path, "--precision", precision]
        if precision != "fp32":
            common += ["--calibration", video]
        print(f"(b) batch --executor local, {workers} workers ...", flush=True)
        local = run_batch([*common, "--out", str(root / "local")], env, None, "spawn_main")
        frames, busy_fps = frames_done(root / "local", clips)
        fps = frames / local["wall_s"]
        results["local"] = {"fps": fps, "fps_in_units": busy_fps, "wall_s": local["wall_s"],
                            "rss_mb_per_worker": local["rss_mb"], "working_rss_mb_per_worker": local["working_rss_mb"],
                            "vs_daemon": fps / daemon["fps_out"]}
        print(f"    {fps:.1f} fps over {local['wall_s']:.1f} s = {fps / daemon['fps_out']:.2f}x the daemon "
              f"(target >= 0.9); {busy_fps:.1f} fps within the units (start-up left out) = "
              f"{busy_fps / daemon['fps_out']:.2f}x; worker RSS peaks {local['rss_mb']} MB (streaming frames: "
              f"{local['working_rss_mb']} MB)")
        if ray:
            print("(c) batch --executor ray, a one-node cluster on 127.0.0.1 ...", flush=True)
            cpus = cores()
            with local_cluster(env, root, (cpus,)) as (address, groups):
                remote = run_batch([*common, "--out", str(root / "ray"), "--executor", "ray", "--ray-address",
                                    address, "--set", f"batch.num_cpus={cpus / workers:g}",
                                    "--set", f"batch.actors={workers}"], env, groups[0], "UnitActor")
            rframes, rbusy = frames_done(root / "ray", clips)
            rfps = rframes / remote["wall_s"]
            results["ray"] = {"fps": rfps, "fps_in_units": rbusy, "wall_s": remote["wall_s"],
                              "rss_mb_per_actor": remote["rss_mb"], "vs_local": rfps / fps}
            print(f"    {rfps:.1f} fps over {remote['wall_s']:.1f} s = {rfps / fps:.2f}x local (target >= 0.85); "
                  f"{rbusy:.1f} fps within the units = {rbusy / busy_fps:.2f}x; actor RSS peaks {remote['rss_mb']} MB")
    print(f"\nload {load_1m()} (1-minute average at the end; above ~0.5 before the start means a busy machine)")
    return results
