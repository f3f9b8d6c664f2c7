"""SIGHUP with several streams, on a real daemon watched by a real ZeroMQ subscriber and read back from its bag: a
stream whose config did not change runs on without a gap even when the reload removes the stream that made the
recorder, the added stream starts, the removed one stops, and every stream's frames land in the one bag."""
from __future__ import annotations

import json
import signal
import threading

import zmq

from .harness import START_TIMEOUT_S, free_port


def config(folder, *streams: tuple[str, int | str]) -> str:
    """Demo streams (a seed) and cameras (a URL); a warm-up deadline far beyond every wait of the test."""
    text = (f'[source]\nfps = 8\nwidth = 320\nheight = 240\nbackoff = [0.5, 1.0]\n[foxglove]\nenabled = false\n'
            f'[daemon]\nwarmup_timeout_s = 300\n'
            f'[record]\nenabled = true\ndir = "{folder}"\nsplit_s = 600\nmax_fps = 0\n')
    return text + "".join(f'\n[[streams]]\nid = "{sid}"\n[streams.source]\n'
                          + (f'url = "{what}"\n' if isinstance(what, str) else f'url = "demo"\ndemo_seed = {what}\n')
                          for sid, what in streams)


class SeqWatcher:
    """A real ZeroMQ subscriber of one stream's depth topic, in a thread: every header `seq` it receives."""

    def __init__(self, endpoint: str, stream: str) -> None:
        self.seqs: list[int] = []
        self._stop = threading.Event()
        self._ctx = zmq.Context()
        self._sock = self._ctx.socket(zmq.SUB)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.setsockopt(zmq.SUBSCRIBE, f"depth/{stream}".encode())
        self._sock.connect(endpoint)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._sock.poll(100):
                self.seqs.append(int(json.loads(self._sock.recv_multipart()[1])["seq"]))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self._sock.close()
        self._ctx.term()


def test_sighup_removing_the_recorders_stream_keeps_the_unchanged_stream_and_the_bag_running(spawn, tmp_path):
    from rosbags.rosbag2 import Reader

    from streamer.record.splits import list_splits

    folder, path = tmp_path / "rec", tmp_path / "streams.toml"
    path.write_text(config(folder, ("a", 0), ("b", 1)))  # a is built first: it makes the recorder
    daemon = spawn("--config", str(path))
    daemon.wait_healthy(START_TIMEOUT_S)
    watcher = SeqWatcher(daemon.zmq_endpoint, "b")
    try:
        daemon.wait_for(lambda: len(watcher.seqs) > 5, 30.0, "stream b's depth frames")
        split = daemon.stats()["streams"]["b"]["publishers"]["recorder"]["split"]
        assert split, daemon.stats()["streams"]["b"]["publishers"]["recorder"]

        tmp = path.with_suffix(".tmp")
        tmp.write_text(config(folder, ("b", 1), ("c", 2)))  # a (the recorder's maker) removed, b unchanged, c added
        tmp.replace(path)
        mark, received = daemon.log_lines, len(watcher.seqs)
        daemon.proc.send_signal(signal.SIGHUP)  # type: ignore[union-attr]
        daemon.wait_log(r"streams kept running: b$", 60.0, after=mark)
        daemon.wait_log(r"configuration reloaded", 60.0, after=mark)
        daemon.wait_for(lambda: daemon.stats()["streams"].get("c", {}).get("frames_out", 0) > 2, 60.0,
                        "the added stream publishing")
        daemon.wait_for(lambda: len(watcher.seqs) > received + 5, 30.0, "stream b's frames after the reload")
    finally:
        watcher.close()
    # b never restarted: one subscriber, one connection, the source's frame numbers only ever rising (a restarted
    # source counts from 1 again), and its recording is the same open split.
    seqs = watcher.seqs
    assert all(later > earlier for earlier, later in zip(seqs, seqs[1:], strict=False)), seqs
    stats = daemon.stats()
    assert set(stats["streams"]) == {"b", "c"}
    recorder = stats["streams"]["b"]["publishers"]["recorder"]
    assert recorder["state"] == "recording" and recorder["split"] == split, recorder
    assert stats["streams"]["c"]["publishers"]["recorder"]["split"] == split  # c writes into the same bag

    # A camera added by a reload while it is down does not hold the reload until warmup_timeout_s (300 s): the
    # network is warm already; the stream joins when its camera answers.
    path.write_text(config(folder, ("b", 1), ("c", 2), ("d", f"rtsp://127.0.0.1:{free_port()}/cam")))
    mark = daemon.log_lines
    daemon.proc.send_signal(signal.SIGHUP)  # type: ignore[union-attr]
    daemon.wait_log(r"stream d: camera down", 60.0, after=mark)
    daemon.wait_log(r"configuration reloaded", 60.0, after=mark)
    assert "streams kept running: b, c" in "\n".join(daemon.lines(mark))
    code, _, body = daemon.http("/healthz")
    assert code == 503 and body.decode().startswith("degraded: d (source offline"), body

    daemon.proc.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
    assert daemon.wait_exit(30.0) == 0, daemon.log
    bags = [s for s in list_splits(folder) if s.closed]
    assert [b.path.name for b in bags] == [split], bags
    with Reader(bags[0].path) as reader:
        topics = {conn.topic for conn in reader.connections if conn.msgcount}
    assert {"/a/depth/relative_inverse", "/b/depth/relative_inverse", "/c/depth/relative_inverse"} <= topics, topics
