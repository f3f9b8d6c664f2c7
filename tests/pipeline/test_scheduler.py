"""The network scheduler shared by several streams: the newest frame of each stream in turn (a stream that always has
a frame never starves a sparse one), lossless per stream for unpaced files, max_fps per stream, and no stream's
frames or state in another's output. The network is a stand-in the test steps call by call (no wall-clock
thresholds: the order of calls is decided by what waits in the slots, which the test sets while a call is held);
the slots, steadiers, workers and scheduler are the real ones."""
from __future__ import annotations

import queue
import threading
import time
from pathlib import Path

import numpy as np

from streamer.core.frame import CapturedFrame, DepthFrame
from streamer.core.handoff import LatestSlot
from streamer.core.picture import Picture
from streamer.model import DepthModel
from streamer.model.weights import WeightsFile
from streamer.pipeline.scheduler import NetworkScheduler
from streamer.pipeline.worker import InferenceWorker
from streamer.steady import Steadier, SteadyOptions

WAIT_S = 30.0


def pixel(stream: int, seq: int) -> int:
    return stream * 64 + seq % 64


def decode(x: np.ndarray) -> tuple[int, int]:
    value = int(round((float(x[0, 0, 0, 0]) * 0.229 + 0.485) * 255))  # undo the official normalisation
    return value // 64, value % 64


class SteppedNetwork:
    """Runs one call at a time when `held`: each call reports (stream, seq) and waits for the test's go."""

    name = "onnxruntime"
    streams = 1

    def __init__(self, held: bool = True, scale: dict[int, float] | None = None) -> None:
        self.held = held
        self.calls: list[tuple[int, int]] = []
        self.started: queue.Queue[tuple[int, int]] = queue.Queue()
        self.go: queue.Queue[bool] = queue.Queue()
        self.scale = scale or {}

    def infer(self, x: np.ndarray) -> np.ndarray:
        stream, seq = decode(x)
        self.calls.append((stream, seq))
        if self.held:
            self.started.put((stream, seq))
            assert self.go.get(timeout=WAIT_S)
        out = np.linspace(1.0, 2.0, x.shape[2] * x.shape[3], dtype=np.float32).reshape(x.shape[2], x.shape[3])
        return out * self.scale.get(stream, 1.0) + stream

    def describe(self) -> dict:
        return {"backend": "stepped", "streams": self.streams}


class Collect:
    def __init__(self) -> None:
        self.frames: list[DepthFrame] = []

    def publish(self, frame: DepthFrame) -> None:
        self.frames.append(frame)


def frame(stream: int, seq: int) -> CapturedFrame:
    image = np.full((8, 8, 3), pixel(stream, seq), np.uint8)
    return CapturedFrame(seq, Picture.of(image), time.time(), time.monotonic())


def lanes(network: SteppedNetwork, count: int, max_fps: float = 0.0):
    model = DepthModel(network, WeightsFile(Path("stepped.pt"), "0" * 64), net_size=64)  # type: ignore[arg-type]
    scheduler = NetworkScheduler(model)
    slots = [LatestSlot[CapturedFrame]() for _ in range(count)]
    outs = [Collect() for _ in range(count)]
    workers = [InferenceWorker(model, Steadier(SteadyOptions()), slots[i], [outs[i]], network=scheduler,
                               max_fps=max_fps, name=f"steady-{i}") for i in range(count)]
    scheduler.start()
    for worker in workers:
        worker.start()
    return scheduler, slots, outs, workers


def stop(scheduler, workers) -> None:
    for worker in workers:
        worker.stop()
    scheduler.stop()


def settle(workers: list[InferenceWorker], running: int) -> None:
    """Wait until every other stream has steadied what it had: a stream whose steady stage is behind has no room
    for another frame (by design), which would make the order depend on thread timing."""
    deadline = time.monotonic() + WAIT_S
    while any(w.busy for i, w in enumerate(workers) if i != running) and time.monotonic() < deadline:
        time.sleep(0.001)


def test_a_stream_that_always_has_a_frame_never_starves_a_sparse_one():
    """Streams 0 and 1 always have a frame waiting (a 30 fps camera); stream 2 gets one every 5th call (5 fps).
    Round-robin from the stream after the last served: stream 2's frame goes at the next call or the one after."""
    network = SteppedNetwork()
    scheduler, slots, outs, workers = lanes(network, 3)
    try:
        slots[0].put(frame(0, 0))
        slots[1].put(frame(1, 0))
        sparse_put_at: list[int] = []
        served_at: dict[int, int] = {}
        seqs = [1, 1, 0]
        for call in range(30):
            stream, seq = network.started.get(timeout=WAIT_S)  # a call is held in the network: set the slots now
            if stream == 2:
                served_at[seq] = call
            if stream in (0, 1):
                slots[stream].put(frame(stream, seqs[stream]))  # the fast ones refill at once
                seqs[stream] += 1
            if call % 5 == 0:
                slots[2].put(frame(2, seqs[2]))
                sparse_put_at.append(call)
                seqs[2] += 1
            settle(workers, stream)
            network.go.put(True)
    finally:
        for _ in range(4):
            network.go.put(True)  # let whatever is left through
        stop(scheduler, workers)
    calls = network.calls[:30]
    assert [s for s in range(3) if not any(c[0] == s for c in calls)] == []
    for seq, put_at in enumerate(sparse_put_at[:-1]):
        assert seq in served_at, f"the sparse stream's frame {seq} (put during call {put_at}) was never served"
        assert served_at[seq] - put_at <= 2, (seq, put_at, served_at[seq], calls)  # at most every other stream first
    assert slots[2].dropped == 0  # never replaced while waiting: it always got its turn first
    fast = [sum(1 for c in calls if c[0] == s) for s in (0, 1)]
    assert abs(fast[0] - fast[1]) <= 1, calls  # the two always-ready streams share the rest evenly


def test_two_unpaced_files_are_lossless_in_order_and_never_mixed():
    network = SteppedNetwork(held=False, scale={0: 1.0, 1: 10.0})
    scheduler, slots, outs, workers = lanes(network, 2)
    count = 40

    def produce(stream: int) -> None:
        for seq in range(count):
            assert slots[stream].offer(frame(stream, seq), timeout=WAIT_S)  # the decoder waits for the network

    producers = [threading.Thread(target=produce, args=(s,)) for s in (0, 1)]
    try:
        for p in producers:
            p.start()
        for p in producers:
            p.join(WAIT_S)
        deadline = time.monotonic() + WAIT_S
        while any(s.pending or w.busy for s, w in zip(slots, workers, strict=True)) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop(scheduler, workers)
    for stream in (0, 1):
        frames = outs[stream].frames
        assert [f.captured.seq for f in frames] == list(range(count))  # every frame once, in order
        assert all(decode_picture(f) == stream for f in frames)  # only its own frames
        assert slots[stream].dropped == 0
    # Each stream's steadier saw only its own maps: stream 1's raw maps are 10x wider, so are its ranges
    lo0, hi0 = outs[0].frames[-1].depth_range
    lo1, hi1 = outs[1].frames[-1].depth_range
    assert hi1 - lo1 > 5 * (hi0 - lo0) > 0
    # the network alternated: neither file waited for the other to finish
    order = [s for s, _ in network.calls]
    assert order.count(0) == order.count(1) == count
    assert min(order[:count].count(0), order[:count].count(1)) >= count // 4, order


def decode_picture(f: DepthFrame) -> int:
    return int(f.captured.picture.bgr()[0, 0, 0]) // 64


def test_max_fps_lets_a_frame_go_once_per_interval_of_the_frames_own_clock():
    network = SteppedNetwork(held=False)
    model = DepthModel(network, WeightsFile(Path("stepped.pt"), "0" * 64), net_size=64)  # type: ignore[arg-type]
    slot: LatestSlot[CapturedFrame] = LatestSlot()
    worker = InferenceWorker(model, Steadier(SteadyOptions()), slot, [], max_fps=5.0)
    assert worker.due_in(100.0) <= 0  # nothing taken yet: the first frame goes at once
    slot.put(frame(0, 0))
    assert worker.take(100.0) is not None
    assert abs(worker.due_in(100.0) - 0.2) < 1e-9  # the next one in 1/5 s
    assert worker.due_in(100.2) <= 1e-9
    slot.put(frame(0, 1))
    assert worker.take(100.25) is not None  # taken a little late: the one after is due on the 0.2 s grid
    assert abs(worker.due_in(100.25) - 0.15) < 1e-9
    unlimited = InferenceWorker(model, Steadier(SteadyOptions()), LatestSlot(), [])
    assert unlimited.due_in(0.0) <= 0


def test_a_stream_behind_max_fps_waits_and_the_others_go():
    network = SteppedNetwork()
    scheduler, slots, outs, workers = lanes(network, 2)
    workers[0]._interval = 3600.0  # noqa: SLF001 - stream 0 may send one frame an hour
    try:
        slots[0].put(frame(0, 0))
        assert network.started.get(timeout=WAIT_S) == (0, 0)
        slots[0].put(frame(0, 1))  # waits for its hour
        slots[1].put(frame(1, 0))
        network.go.put(True)
        assert network.started.get(timeout=WAIT_S) == (1, 0)  # stream 1 goes, stream 0's frame waits
        slots[1].put(frame(1, 1))
        network.go.put(True)
        assert network.started.get(timeout=WAIT_S) == (1, 1)
        assert slots[0].pending  # still waiting: newest wins when a newer one comes
        network.go.put(True)
    finally:
        for _ in range(3):
            network.go.put(True)
        stop(scheduler, workers)


def test_the_longest_network_call_is_measured_while_it_is_held():
    network = SteppedNetwork()
    scheduler, slots, _, workers = lanes(network, 1)
    try:
        assert scheduler.longest_call_s() == 0.0
        slots[0].put(frame(0, 0))
        network.started.get(timeout=WAIT_S)
        deadline = time.monotonic() + WAIT_S  # the scheduler notes the call once submit() returned: just after
        while scheduler.longest_call_s() == 0.0 and time.monotonic() < deadline:
            time.sleep(0.001)
        assert scheduler.longest_call_s(time.monotonic() + 100.0) >= 100.0  # wedged, as the watchdog sees it
        network.go.put(True)
    finally:
        network.go.put(True)
        stop(scheduler, workers)
