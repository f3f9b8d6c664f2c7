"""`depth-streamer infer`: depth for still images and whole videos, without the daemon.

Images take the still-photo path (`streamer.photo`: read -> depth -> encode, as POST /depth does): DIR/<stem>.npy
(the raw network output) and DIR/<stem>.png (colorized at the photo's size). Videos take the inference worker's
per-frame path (`InferenceWorker.process`: network, finiteness check, steady), every frame in order, then the
renderer, and write DIR/<stem>.depth.mp4
(H.264, the configured view and colormap) and, with `raw`, DIR/<stem>.depth.npz (every raw map, with its pts).
Outputs never overwrite each other within one run: a second input with the same stem gets `<stem>-2`.
DIR/infer.json says what ran: the model's meta (precision served, requested, and why) and each input's outcome.
"""
from __future__ import annotations

import io
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from streamer.core.files import atomic_write, writable_folder
from streamer.core.frame import CapturedFrame
from streamer.core.handoff import LatestSlot
from streamer.core.picture import Picture
from streamer.core.progress import Progress
from streamer.errors import NonFiniteOutput, StreamerError
from streamer.model import DepthModel
from streamer.photo import decode
from streamer.photo.depth import photo_depth
from streamer.photo.encode import encode
from streamer.pipeline.offline_metric import MetricOutputs, write_metric
from streamer.pipeline.worker import InferenceWorker
from streamer.render.colorize import ColorOptions
from streamer.render.renderer import FrameRenderer
from streamer.sources.av_source import to_bgr
from streamer.steady import Steadier, SteadyOptions

log = logging.getLogger(__name__)

VIDEO_CRF = 20  # visually lossless for colormapped depth at a fraction of the size of a lossless encode


@dataclass(frozen=True)
class InferOptions:
    output_dir: Path
    view: str = "depth"
    raw: bool = False  # videos: also the raw maps as one .npz
    color: ColorOptions = ColorOptions()
    steady: SteadyOptions = SteadyOptions()
    metric: MetricOutputs | None = None  # images: NAME.metric.npy (--anchors) and NAME.ply (--ply)


def output_stems(inputs: list[Path]) -> list[str]:
    """One output stem per input, unique within the run: `a/x.jpg`, `b/x.png` -> `x`, `x-2`."""
    seen: dict[str, int] = {}
    stems = []
    for path in inputs:
        n = seen.get(path.stem, 0) + 1
        seen[path.stem] = n
        stems.append(path.stem if n == 1 else f"{path.stem}-{n}")
    return stems


def prepare_output_dir(path: Path) -> Path:
    """Create the folder and prove it takes a file, before any model is loaded; StreamerError naming it otherwise."""
    return writable_folder(path, "--output-dir")


def write_file(path: Path, data: bytes) -> None:
    """Whole or not at all (temp file + rename); a failure is a StreamerError naming the output, not the input."""
    try:
        atomic_write(path, data)
    except OSError as exc:
        raise StreamerError(f"cannot write {path}: {exc.strerror or exc}") from None


def is_video(path: Path) -> bool:
    """A file OpenCV cannot read as an image but FFmpeg opens with a video stream."""
    if cv2.haveImageReader(str(path)):
        return False
    try:
        with av.open(str(path)) as container:
            return bool(container.streams.video)
    except (av.error.FFmpegError, OSError, ValueError):
        return False


def infer_image(model: DepthModel, colors: ColorOptions, path: Path, out: Path, stem: str,
                metric: MetricOutputs | None = None) -> dict | None:
    """Depth for one image; with --anchors, the verdict block infer.json keeps for it."""
    try:
        photo = decode.read(path)
    except decode.PhotoError as exc:
        why = str(exc) if exc.code == 413 else "not a readable image or video"
        raise StreamerError(f"cannot read {path}: {why}") from None
    try:
        raw = photo_depth(model.predict, photo.image, str(path))
    except NonFiniteOutput as exc:
        raise StreamerError(f"{path}: {exc}; nothing written") from None
    size = (photo.width, photo.height)
    npy, png = encode(raw, "npy", size), encode(raw, "png", size, colors)  # both made before either is written
    write_file(out / f"{stem}.npy", npy)
    write_file(out / f"{stem}.png", png)
    log.info("%s -> %s/%s.{npy,png} (network %dx%d)", path, out, stem, raw.shape[1], raw.shape[0])
    if metric is None:
        return None
    written, info = write_metric(raw, photo.image, path.name, out, stem, metric, write_file)
    if written:
        log.info("%s -> %s", path, ", ".join(f"{out}/{name}" for name in written))
    return info


def infer_video(model: DepthModel, options: InferOptions, path: Path, stem: str,
                tick: Callable[[int], None] | None = None) -> Path:
    """Every frame through network -> steady -> render -> H.264, in order; returns the video's path. Written under a
    temporary name and renamed when whole: an error or a Ctrl-C removes the partial file and says so. `tick(1)`
    after each frame replaces the file's own progress bar (`batch` draws one bar over every worker)."""
    video_path = options.output_dir / f"{stem}.depth.mp4"
    partial = options.output_dir / f".{stem}.depth.mp4.part"
    try:
        frames = _encode_video(model, options, path, stem, partial, tick)
        os.replace(partial, video_path)
    except BaseException as exc:
        existed = partial.exists()
        partial.unlink(missing_ok=True)
        if existed:
            why = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
            log.error("%s: %s; the partial depth video was removed, %s not written", path, why, video_path)
        raise
    log.info("%s -> %s (%d frames%s)", path, video_path, frames,
             f", raw maps in {stem}.depth.npz" if options.raw else "")
    return video_path


def _encode_video(model: DepthModel, options: InferOptions, path: Path, stem: str, video_path: Path,
                  tick: Callable[[int], None] | None = None) -> int:
    out = options.output_dir
    # The daemon's per-frame path, called in order on every frame: no thread, no slot, no publishers.
    worker = InferenceWorker(model, Steadier(options.steady), LatestSlot(), outputs=())
    renderer = FrameRenderer(options.color)
    raw_maps: list[np.ndarray] = []
    pts: list[float] = []
    with av.open(str(path)) as src:
        stream = src.streams.video[0]
        total = stream.frames or 0
        rate = stream.average_rate or stream.guessed_rate or Fraction(30)
        progress = Progress(total, f"infer {path.name}", unit="frame", stream=io.StringIO() if tick else None)
        with av.open(str(video_path), "w", format="mp4") as dst:
            enc = None
            for index, frame in enumerate(src.decode(stream)):
                captured = CapturedFrame(seq=index, picture=Picture.of(to_bgr(frame)), capture_wall=time.time(),
                                         capture_mono=time.monotonic(), pts=frame.time)
                try:
                    depth = worker.process(captured)
                except NonFiniteOutput as exc:
                    raise StreamerError(f"{path} frame {index}: {exc}") from None
                raw = depth.raw
                picture = renderer.image(depth, options.view)
                if enc is None:
                    enc = dst.add_stream("libx264", rate=rate)
                    enc.width, enc.height = picture.shape[1] // 2 * 2, picture.shape[0] // 2 * 2
                    enc.pix_fmt = "yuv420p"
                    # The same bytes from the same frames, on any machine (a batch on a cluster equals one run
                    # here): x264's output depends on its thread count (one thread: a depth map is small), and its
                    # macroblock-tree rate control was seen to differ from run to run (1 in 4 runs here) without it
                    enc.options = {"crf": str(VIDEO_CRF), "preset": "veryfast", "threads": "1",
                                   "x264-params": "mbtree=0"}
                picture = picture[: enc.height, : enc.width]  # yuv420p needs even sides
                out_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(picture), format="bgr24")
                out_frame.pts = index  # in 1/rate (the stream's time base): x264's rate control reads the stamps
                for packet in enc.encode(out_frame):
                    dst.mux(packet)
                if options.raw:
                    raw_maps.append(np.asarray(raw, np.float32))
                    pts.append(frame.time if frame.time is not None else index / float(rate))
                progress.update(1)
                if tick is not None:
                    tick(1)
            if enc is None:
                raise StreamerError(f"{path}: no decodable video frames")
            for packet in enc.encode():
                dst.mux(packet)
        progress.close()
    if options.raw:
        buffer = io.BytesIO()
        np.savez(buffer, depth=np.stack(raw_maps), pts=np.asarray(pts))
        write_file(out / f"{stem}.depth.npz", buffer.getvalue())
    return progress.done


def run_infer(model: DepthModel, inputs: list[Path], options: InferOptions) -> int:
    """Process every input; a bad one is reported and the rest still processed. Returns how many failed."""
    out = prepare_output_dir(options.output_dir)
    failed = 0
    outcomes: dict[str, str] = {}
    judged: dict[str, dict] = {}  # --anchors: each image's verdict block
    for path, stem in zip(inputs, output_stems(inputs), strict=True):
        outcomes[str(path)] = stem
        try:
            if not path.is_file():
                raise StreamerError(f"cannot read {path}: no such file")
            if is_video(path):
                if options.metric is not None:
                    log.warning("%s: --anchors and --ply apply to images; this video gets relative depth", path)
                infer_video(model, options, path, stem)
            else:
                info = infer_image(model, options.color, path, out, stem, options.metric)
                if info is not None:
                    judged[str(path)] = info
        except StreamerError as exc:
            log.error("%s", exc)
            failed += 1
            outcomes[str(path)] = f"failed: {exc}"
        except (av.error.FFmpegError, OSError, ValueError) as exc:  # a file FFmpeg opened but cannot decode
            log.error("cannot read %s: not a readable image or video (%s)", path, exc)
            failed += 1
            outcomes[str(path)] = f"failed: not a readable image or video ({exc})"
    report: dict = {"model": model.meta, "outputs": outcomes}
    if options.metric is not None and options.metric.anchors is not None:
        report["metric"] = judged  # per image: {verdict, reason, expected_abs_rel, used, ...}
    atomic_write(out / "infer.json", json.dumps(report, indent=1))
    return failed
