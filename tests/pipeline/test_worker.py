"""The inference worker with frames in flight: order kept, the backend's streams used, nothing lost, bad frames
refused alone. The network is a stand-in that sleeps (the worker is under test, not the network); the slot, the
steady stage and the worker are the real ones."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from streamer.core.frame import CapturedFrame, DepthFrame
from streamer.core.handoff import LatestSlot
from streamer.core.picture import Picture
from streamer.model import DepthModel
from streamer.model.weights import WeightsFile
from streamer.pipeline.pipeline import frames_in_flight
from streamer.pipeline.worker import InferenceWorker
from streamer.steady import Steadier, SteadyOptions


class SleepyNetwork:
    """Sleeps longer on even frames (so results finish out of order when two are in flight), counts how many run at
    once, and answers NaN for the frame numbers in `nan`."""

    name = "onnxruntime"

    def __init__(self, streams: int, nan: frozenset[int] = frozenset()) -> None:
        self.streams = streams
        self.nan = nan
        self.running = 0
        self.most = 0
        self._lock = threading.Lock()

    def infer(self, x: np.ndarray) -> np.ndarray:
        seq = int(round((float(x[0, 0, 0, 0]) * 0.229 + 0.485) * 255))  # the frame number rides in the pixels
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(0.03 if seq % 2 == 0 else 0.002)
        with self._lock:
            self.running -= 1
        out = np.full((x.shape[2], x.shape[3]), 1.0 + seq, np.float32)
        out[0, 0] = 2.0  # not constant: the steady stage aligns against a spread
        return out * np.nan if seq in self.nan else out

    def describe(self) -> dict:
        return {"backend": "sleepy", "streams": self.streams}


class Collect:
    """A publisher; with `network`, it takes its time and notes whether the network was busy meanwhile."""

    def __init__(self, network: SleepyNetwork | None = None) -> None:
        self.frames: list[DepthFrame] = []
        self.network = network
        self.overlapped = 0

    def publish(self, frame: DepthFrame) -> None:
        self.frames.append(frame)
        if self.network is not None:
            time.sleep(0.02)
            self.overlapped += self.network.running > 0


def run_frames(network: SleepyNetwork, count: int, out: Collect | None = None) -> tuple[list[int], InferenceWorker]:
    model = DepthModel(network, WeightsFile(Path("sleepy.pt"), "0" * 64), net_size=64)  # type: ignore[arg-type]
    slot: LatestSlot[CapturedFrame] = LatestSlot()
    out = out or Collect()
    worker = InferenceWorker(model, Steadier(SteadyOptions()), slot, [out])
    worker.start()
    try:
        for seq in range(count):  # lossless, as an unpaced file: wait until the worker took the frame before
            image = np.full((8, 8, 3), seq, np.uint8)
            assert slot.offer(CapturedFrame(seq, Picture.of(image), time.time(), time.monotonic()), timeout=30.0)
        deadline = time.monotonic() + 30.0
        while (slot.pending or worker.busy) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not worker.busy, "the worker never finished its frames"
    finally:
        worker.stop()
    return [f.captured.seq for f in out.frames], worker


@pytest.mark.parametrize("streams", [1, 2, 3])
def test_every_frame_published_once_in_capture_order_with_streams_in_flight(streams):
    network = SleepyNetwork(streams)
    seqs, worker = run_frames(network, 24)
    assert seqs == list(range(24))  # lossless and in order, although odd frames finish before even ones
    assert network.most == streams  # the backend's streams are used, and never more
    assert worker.stats.errors == 0


def test_with_one_stream_the_next_frame_is_in_the_network_while_the_last_is_published():
    network = SleepyNetwork(1)
    out = Collect(network)
    seqs, _ = run_frames(network, 12, out)
    assert seqs == list(range(12)) and network.most == 1
    assert out.overlapped >= 3  # (~half: odd frames leave the network in 2 ms) a serial worker shows 0


def test_a_non_finite_frame_is_refused_alone_and_order_holds():
    network = SleepyNetwork(2, nan=frozenset({5, 6}))
    seqs, worker = run_frames(network, 12)
    assert seqs == [s for s in range(12) if s not in (5, 6)]
    assert worker.stats.nonfinite == 2


def test_frames_in_flight_auto_is_two_for_lossless_sources_on_two_cores_else_one():
    assert frames_in_flight(0, lossless=True, cores=2) == 2
    assert frames_in_flight(0, lossless=True, cores=1) == 1
    assert frames_in_flight(0, lossless=False, cores=16) == 1
    assert frames_in_flight(3, lossless=False, cores=2) == 3
