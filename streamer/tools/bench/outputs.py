"""`depth-streamer bench outputs VIDEO`: what the Foxglove server and the recorder cost the live pipeline, in one run.

One daemon per phase on VIDEO looping, paced like a camera (`--paced-fps`, 30 by default), measured from outside
over `--seconds` once warm: baseline (both off) -> Foxglove on, nobody connected -> Foxglove on, one real client
(foxglove.sdk.v1) subscribed to every channel -> recording on with the default [record] settings -> baseline again.
Each phase's fps is quoted as a ratio of the mean of the two baselines (so drift of a shared machine shows), with
the host's load. The client phase also says how many of the published depth frames the client received; the
recording phase how many bytes a second reached the disk (the folder's size) and how many were serialised.
"""
from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
from pathlib import Path

from streamer.errors import StreamerError
from streamer.publish.topics import RosOptions
from streamer.record.splits import folder_size, list_splits
from streamer.tools.bench.pipeline import SETTLE_TIMEOUT_S, settled
from streamer.tools.measure import DaemonProcess, free_port, http_stats, load_1m, looping_video_args


def bench_outputs(video: str, weights: str | None, seconds: float, paced_fps: float, precision: str,
                  json_out: str | None = None) -> list[dict]:
    try:
        import streamer.tools.foxglove_client  # noqa: F401 -- needs `websockets`, from the [test] extra
    except ImportError as exc:
        raise StreamerError(f"bench outputs needs the test extra for its Foxglove client ({exc}): "
                            "pip install -e '.[test]'") from None
    folder = Path(tempfile.mkdtemp(prefix="ds-bench-outputs-"))
    port = free_port()
    fox = ["--set", "foxglove.enabled=true", "--set", f"foxglove.port={port}"]
    rec = ["--set", "record.enabled=true", "--set", f"record.dir={folder / 'rec'}"]
    phases = [("baseline", [], False), ("foxglove, no client", fox, False),
              ("foxglove, 1 client on every channel", fox, True), ("recording (defaults)", rec, False),
              ("baseline again", [], False)]
    print(f"bench outputs: {video} looping at {paced_fps:g} fps, {seconds:g} s per phase, precision {precision}")
    rows = []
    try:
        for name, extra, client in phases:
            args = looping_video_args(video, weights, paced_fps, "--set", f"model.precision={precision}", *extra)
            row = {"phase": name, **_measure(args, seconds, port if client else None, folder / "rec")}
            rows.append(row)
            print(_format(row), flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    base = [r["fps_out"] for r in rows if r["phase"].startswith("baseline")]
    ref = sum(base) / len(base)
    print(f"\nbaseline fps_out {ref:.2f} (the two baselines: {', '.join(f'{b:.2f}' for b in base)})")
    for row in rows:
        row["vs_baseline"] = round(row["fps_out"] / ref, 3) if ref else None
        extra = ""
        if "client_received" in row:
            extra = f"; client received {row['client_received']} of {row['frames_out']} depth frames"
        if "disk_bytes_per_s" in row:
            per_frame = row["disk_bytes_per_frame"] or 0
            extra = (f"; disk {row['disk_bytes_per_s'] / 1e6:.2f} MB/s ({row['serialised_bytes_per_s'] / 1e6:.2f} "
                     f"MB/s serialised before compression), recorded {row['recorded_fps']:.1f} fps, "
                     f"{per_frame / 1e3:.0f} kB a frame = {per_frame * paced_fps / 1e6:.2f} MB/s at {paced_fps:g} fps")
        print(f"  {row['phase']:<38} {row['fps_out']:6.2f} fps  x{row['vs_baseline']}{extra}")
    if json_out:
        Path(json_out).write_text(json.dumps(rows, indent=1) + "\n")
    return rows


def _measure(args: list[str], seconds: float, client_port: int | None, rec_dir: Path) -> dict:
    daemon = DaemonProcess(args, log_level="warning").start()
    stop = threading.Event()
    received = [0]
    thread = None
    try:
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while True:
            if not daemon.alive():
                raise StreamerError("the daemon exited:\n" + daemon.log_tail())
            try:
                if settled(http_stats(daemon.http_port)):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise StreamerError("the daemon did not settle:\n" + daemon.log_tail())
            time.sleep(0.5)
        if client_port is not None:
            thread = threading.Thread(target=_client, args=(client_port, stop, received), daemon=True)
            thread.start()
        time.sleep(3.0)  # past start-up, the client subscribed
        got0, size0 = received[0], folder_size(rec_dir) if rec_dir.exists() else 0
        before, t0, load0 = http_stats(daemon.http_port), time.monotonic(), load_1m()
        time.sleep(seconds)
        after, t1, got1 = http_stats(daemon.http_port), time.monotonic(), received[0]
        size1 = folder_size(rec_dir) if rec_dir.exists() else 0
    finally:
        stop.set()
        daemon.close()
        if thread is not None:
            thread.join(5.0)
    span = t1 - t0
    row = {"fps_out": round((after["frames_out"] - before["frames_out"]) / span, 2),
           "frames_out": after["frames_out"] - before["frames_out"], "load_1m": [load0, load_1m()]}
    if client_port is not None:
        row["client_received"] = got1 - got0
    rec0, rec1 = before["publishers"].get("recorder"), after["publishers"].get("recorder")
    if rec0 and rec1:
        row.update(disk_bytes_per_s=round(max(0, size1 - size0) / span),
                   serialised_bytes_per_s=round((rec1["bytes_written"] - rec0["bytes_written"]) / span),
                   recorded_fps=round((rec1["frames_recorded"] - rec0["frames_recorded"]) / span, 2),
                   record_dropped=rec1["dropped"] - rec0["dropped"])
        row["disk_bytes_per_frame"] = _bytes_per_frame(rec_dir)
    return row


def _bytes_per_frame(rec_dir: Path) -> int | None:
    """Disk bytes of the whole recording (every split closed now) per recorded depth frame: MCAP chunks reach the
    disk a MiB at a time, so a short window's size delta is lumpy; the closed recording is exact."""
    from rosbags.rosbag2 import Reader

    relative = RosOptions().topic("relative")
    frames = 0
    for split in list_splits(rec_dir):
        with Reader(split.path) as reader:
            frames += sum(c.msgcount for c in reader.connections if c.topic == relative)
    return round(folder_size(rec_dir) / frames) if frames else None


def _client(port: int, stop: threading.Event, received: list[int]) -> None:
    """One Foxglove client on every channel, counting the relative depth frames it receives."""
    from streamer.tools.foxglove_client import FoxgloveClient

    relative = RosOptions().topic("relative")
    with FoxgloveClient(f"ws://127.0.0.1:{port}", timeout=30) as client:
        client.wait_topics({relative})
        time.sleep(1.0)  # let the first frames advertise the channels that come with them
        client.subscribe(sorted(client.topics()))
        while not stop.is_set():
            msg = client.receive(0.5)
            if msg is not None and msg.topic == relative:
                received[0] += 1


def _format(row: dict) -> str:
    return f"{row['phase']:<38} fps_out {row['fps_out']:6.2f}  load {row['load_1m']}"
