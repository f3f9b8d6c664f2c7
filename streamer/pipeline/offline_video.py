"""A whole video through the daemon's per-frame path, its stages side by side as the daemon runs them.

Three threads, each owning its part: the decoder (PyAV decode and the conversion to BGR), the network and steady
stage (`InferenceWorker.process`, in the caller's thread, every frame in order) and the encoder (the renderer, H.264
and the mp4 muxer). Bounded queues of DEPTH frames sit between them, so an hour of video holds a few frames, and
the same frames reach every stage in the same order: the bytes written equal a one-thread run's. Each stage's native
work (FFmpeg's scaler and x264, ONNX Runtime, OpenCV) runs without the GIL, so the decoder and the encoder overlap
the network instead of adding to it. A failure in any stage stops the others and is raised in the caller's thread;
so is a Ctrl-C, which only the caller's thread receives.
"""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from streamer.core.frame import CapturedFrame
from streamer.core.handoff import LatestSlot
from streamer.core.picture import Picture
from streamer.core.progress import Progress
from streamer.errors import NonFiniteOutput, StreamerError
from streamer.model import DepthModel
from streamer.pipeline.raw_maps import RawMapsWriter
from streamer.pipeline.worker import InferenceWorker
from streamer.render.colorize import ColorOptions
from streamer.render.renderer import FrameRenderer
from streamer.sources.av_source import to_bgr
from streamer.steady import Steadier, SteadyOptions

DEPTH = 4  # frames waiting between two stages
VIDEO_CRF = 20  # visually lossless for colormapped depth at a fraction of the size of a lossless encode
# x264 at 1280x720 on colormapped depth (60 cockatoo frames, one thread, Zen 4): veryfast 28.7 ms a frame, 12.7 kB;
# superfast 13.4 ms, 14.3 kB; ultrafast 9.1 ms, 14.5 kB. The same quality (CRF), 14 % more bytes, a third of the CPU:
# the encoder was a fifth of a video's cost beside the network.
PRESET = "ultrafast"
_END = object()


def pts_ns(pts: int, base: Fraction) -> int:
    """A packet's or frame's time in ns, computed the same way by the planner and the decoder."""
    return int(pts * base * 1_000_000_000)


@dataclass(frozen=True)
class Span:
    """A segment of a video: decoding starts at the keyframe `seek_ns`; frames before `start_ns` only warm the steady
    stage up; frames from `end_ns` on (None: to the end) are not decoded."""

    seek_ns: int
    start_ns: int
    end_ns: int | None

    def seek(self, container: Any, stream: Any, base: Fraction) -> None:
        if self.seek_ns > 0:  # at or after the keyframe's own pts (ns -> pts rounds down), backward to it
            container.seek(int(Fraction(self.seek_ns, 1_000_000_000) / base) + 1, stream=stream, backward=True)


@dataclass
class VideoResult:
    frames: int = 0
    warmup: int = 0  # a span's frames before its start: through the network and steady, not written


class _Line:
    """The hand-offs and the shared stop: a stage that fails sets it, and every wait gives up."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.decoded: queue.Queue[Any] = queue.Queue(DEPTH)
        self.inferred: queue.Queue[Any] = queue.Queue(DEPTH)

    def put(self, q: queue.Queue[Any], item: Any) -> bool:
        while not self.stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def get(self, q: queue.Queue[Any]) -> Any:
        while not self.stop.is_set():
            try:
                return q.get(timeout=0.1)
            except queue.Empty:
                continue
        return _END

    def run(self, name: str, body: Callable[[], None], end_of: queue.Queue[Any] | None = None) -> threading.Thread:
        def stage() -> None:
            try:
                body()
            except BaseException as exc:  # raised again in the caller's thread
                self.errors.append(exc)
                self.stop.set()
            finally:
                if end_of is not None:
                    self.put(end_of, _END)
        thread = threading.Thread(target=stage, name=name, daemon=True)
        thread.start()
        return thread


def encode_video(model: DepthModel, path: Path, video_path: Path, *, view: str, colors: ColorOptions,
                 steady: SteadyOptions, raw: RawMapsWriter | None = None, tick: Callable[[int], None] | None = None,
                 progress_stream: Any = None, span: Span | None = None) -> VideoResult:
    """Every frame of `path` (or of its `span`) through network -> steady -> render -> H.264 into `video_path`;
    with `raw`, each written frame's raw network map and stamp go to it as they come (the caller closes it)."""
    line, result = _Line(), VideoResult()
    worker = InferenceWorker(model, Steadier(steady), LatestSlot(), outputs=())  # no thread, slot or publishers
    with av.open(str(path)) as src:
        stream = src.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or Fraction(30)
        progress = Progress(stream.frames or 0, f"infer {path.name}", unit="frame", stream=progress_stream)

        base = stream.time_base or Fraction(1, 1_000_000_000)
        if span is not None:
            span.seek(src, stream, base)

        def decode() -> None:
            for index, frame in enumerate(src.decode(stream)):
                warm = False
                if span is not None and frame.pts is not None:
                    t = pts_ns(frame.pts, base)
                    if span.end_ns is not None and t >= span.end_ns:
                        return
                    if t < span.seek_ns:
                        continue  # the seek landed on an earlier keyframe than planned
                    warm = t < span.start_ns
                if not line.put(line.decoded, (index, frame.time, to_bgr(frame), warm)):
                    return

        def write() -> None:
            _write(video_path, rate, view, colors, line, progress, tick)

        threads = [line.run("video-decode", decode, end_of=line.decoded), line.run("video-encode", write)]
        try:
            while (item := line.get(line.decoded)) is not _END:
                index, pts, bgr, warm = item
                captured = CapturedFrame(seq=index, picture=Picture.of(bgr), capture_wall=time.time(),
                                         capture_mono=time.monotonic(), pts=pts)
                try:
                    depth = worker.process(captured)
                except NonFiniteOutput as exc:
                    raise StreamerError(f"{path} frame {index}: {exc}") from None
                if warm:
                    result.warmup += 1
                    continue
                if raw is not None:
                    raw.add(depth.raw, pts if pts is not None else index / float(rate))
                result.frames += 1
                if not line.put(line.inferred, depth):
                    break
            line.put(line.inferred, _END)
        except BaseException:
            line.stop.set()
            raise
        finally:
            for thread in threads:
                thread.join()
        if line.errors:
            raise line.errors[0]
        progress.close()
    if result.frames == 0:
        raise StreamerError(f"{path}: no decodable video frames")
    return result


def _write(video_path: Path, rate: Fraction, view: str, colors: ColorOptions, line: _Line, progress: Progress,
           tick: Callable[[int], None] | None) -> None:
    renderer = FrameRenderer(colors)
    with av.open(str(video_path), "w", format="mp4") as dst:
        enc = None
        index = 0
        while (depth := line.get(line.inferred)) is not _END:
            picture = renderer.image(depth, view)
            if enc is None:
                enc = dst.add_stream("libx264", rate=rate)
                enc.width, enc.height = picture.shape[1] // 2 * 2, picture.shape[0] // 2 * 2
                enc.pix_fmt = "yuv420p"
                # The same bytes from the same frames, on any machine (a batch on a cluster equals one run here):
                # x264's output depends on its thread count (one thread: a depth map is small), and its
                # macroblock-tree rate control was seen to differ from run to run (1 in 4 runs here) without it.
                enc.options = {"crf": str(VIDEO_CRF), "preset": PRESET, "threads": "1", "x264-params": "mbtree=0"}
            picture = picture[: enc.height, : enc.width]  # yuv420p needs even sides
            out_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(picture), format="bgr24")
            out_frame.pts = index  # in 1/rate (the stream's time base): x264's rate control reads the stamps
            for packet in enc.encode(out_frame):
                dst.mux(packet)
            index += 1
            progress.update(1)
            if tick is not None:
                tick(1)
        if enc is not None and not line.stop.is_set():
            for packet in enc.encode():
                dst.mux(packet)
