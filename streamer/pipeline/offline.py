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
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import av
import cv2

from streamer.core.files import atomic_write, writable_folder
from streamer.errors import NonFiniteOutput, StreamerError
from streamer.model import DepthModel
from streamer.photo import decode
from streamer.photo.depth import photo_depth
from streamer.photo.encode import encode
from streamer.pipeline.offline_metric import MetricOutputs, write_metric
from streamer.pipeline.offline_video import encode_video
from streamer.pipeline.raw_maps import RawMapsWriter
from streamer.render.colorize import ColorOptions
from streamer.steady import SteadyOptions

log = logging.getLogger(__name__)


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
    with RawMapsWriter(options.output_dir / f"{stem}.depth.npz") if options.raw else nullcontext() as raw:
        result = encode_video(model, path, video_path, view=options.view, colors=options.color,
                              steady=options.steady, raw=raw, tick=tick,
                              progress_stream=io.StringIO() if tick else None)
    return result.frames


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
