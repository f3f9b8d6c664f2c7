"""The unit runner: what a worker (a local process or a Ray actor) holds and does. It loads the model once, chooses
the precision once (the same choice and gate as `infer`, `--calibration` frames), then runs units: decode, infer,
write under a temporary name, rename when whole, and answer a small manifest row. A unit that fails for its own
reason (a corrupt segment, an undecodable video) answers an error row: the job goes on."""
from __future__ import annotations

import logging
import os
import shutil
import socket
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2

from streamer.batch.bagunit import UnitCounts, run_bag_unit
from streamer.batch.plan import Unit
from streamer.batch.videoparts import run_video_segment, video_outputs
from streamer.core.files import file_sha256
from streamer.errors import StreamerError
from streamer.model import DepthModel, load_depth_model
from streamer.model.backends import serve_without_spinning
from streamer.pipeline.offline import InferOptions, infer_image, infer_video, output_stems

log = logging.getLogger(__name__)
PARTS = ".batch"  # under --out: the finished units of bags waiting for their assembly


def part_folder(out: Path, unit: Unit) -> Path:
    return out / PARTS / f"{unit.stem}.{unit.sha256[:12]}" / f"{unit.index:05d}"


def unit_outputs(out: Path, unit: Unit) -> list[Path]:
    """The files a finished unit leaves under their final names (what its row's output_sha256 covers)."""
    if unit.assembled:  # a part, waiting for its assembly
        folder = part_folder(out, unit)
        return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []
    if unit.kind == "video":
        return [out / name for name in video_outputs(unit.stem, raw=True) if (out / name).is_file()]
    folder = images_folder(out, unit)
    stems = image_stems(unit)
    return [folder / f"{s}.{ext}" for s in stems for ext in ("npy", "png") if (folder / f"{s}.{ext}").is_file()]


def image_stems(unit: Unit) -> list[str]:
    """The output stems of the unit's images: a folder's made over all its images (as `infer` makes them); a lone
    image's is its input's stem, unique in the run."""
    if not unit.input.is_dir():
        return [unit.stem]
    from streamer.batch.inputs import classify

    return output_stems(list(classify(unit.input).images))[unit.start:unit.end]


def images_folder(out: Path, unit: Unit) -> Path:
    return out / unit.stem if unit.input.is_dir() else out


def outputs_sha256(paths: list[Path]) -> str:
    import hashlib

    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode() + b"\0" + file_sha256(path).encode())
    return digest.hexdigest()


class UnitRunner:
    def __init__(self, conf: dict[str, Any], weights: str, out: Path, calibration: str | None = None) -> None:
        self.conf, self.out = conf, out
        # Workers run side by side, each its own share of the cores: OpenCV's pool would only contend with them,
        # and some of its kernels (the renderer's) give other bits on other thread counts; one thread, the same bytes
        # on a laptop and on any cluster node (Ray limits an actor's threads to its CPUs the same way).
        cv2.setNumThreads(1)
        serve_without_spinning()  # the decoder and encoder threads want the cores between network runs
        self.model: DepthModel = load_depth_model(conf["model"], weights_path=weights)
        if conf["model"].precision != "fp32":
            from streamer.model.precision.offline import apply_precision

            apply_precision(self.model, conf["model"], calibration)
        self.worker = f"{socket.gethostname()}:{os.getpid()}"

    def run(self, unit: Unit, tick: Callable[[int], None]) -> dict:
        t0 = time.monotonic()
        row = unit.row(worker=self.worker)
        try:
            counts = self._run(unit, tick)
        except Exception as exc:  # the unit's own failure (a corrupt segment, a torn video): its row, not the job
            text = str(exc).splitlines()[0] if str(exc) else ""
            if not isinstance(exc, StreamerError):
                text = f"{unit.input}: {type(exc).__name__}: {text}"
            log.error("%s: %s", unit.label, text)
            return {**row, "status": "error", "error": text, "seconds": round(time.monotonic() - t0, 3)}
        outputs = unit_outputs(self.out, unit)
        return {**row, "status": "done", "output": [str(p.relative_to(self.out)) for p in outputs],
                "output_sha256": outputs_sha256(outputs), "frames": counts.frames, "warmup_frames": counts.warmup,
                "decode_errors": counts.decode_errors, "precision": self.model.precision.serving,
                "verdicts": dict(counts.verdicts), "seconds": round(time.monotonic() - t0, 3)}

    def _part(self, unit: Unit, write: Callable[[Path], UnitCounts]) -> UnitCounts:
        """`write` a part folder under a temporary name, renamed when whole."""
        final = part_folder(self.out, unit)
        tmp = final.with_name(f"{final.name}.tmp-{os.getpid()}")  # a dead worker's leftovers say whose
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            counts = write(tmp)
            if final.exists():  # a finished attempt whose worker died before it could say so: same bytes
                shutil.rmtree(final)
            os.rename(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return counts

    def _run(self, unit: Unit, tick: Callable[[int], None]) -> UnitCounts:
        if unit.kind == "bag":
            return self._part(unit, lambda tmp: run_bag_unit(unit, self.model, self.conf, tmp, tick))
        conf = self.conf
        if unit.kind == "video" and unit.count > 1:
            return self._part(unit, lambda tmp: run_video_segment(unit, self.model, conf, tmp, tick))
        if unit.kind == "video":
            options = InferOptions(output_dir=self.out, view=conf["batch"].view, raw=conf["batch"].raw,
                                   color=conf["color"], steady=conf["steady"])
            counts = UnitCounts()

            def count(n: int) -> None:
                counts.frames += n
                tick(n)

            infer_video(self.model, options, unit.input, unit.stem, count)
            return counts
        folder = images_folder(self.out, unit)
        folder.mkdir(parents=True, exist_ok=True)
        stems = image_stems(unit)
        counts = UnitCounts()
        for path, stem in zip(unit.files, stems, strict=True):
            infer_image(self.model, conf["color"], path, folder, stem)
            counts.frames += 1
            tick(1)
        return counts


def with_threads(conf: dict[str, Any], threads: int) -> dict[str, Any]:
    """The config with model.threads set, unless the user set it."""
    if conf["model"].threads:
        return conf
    return {**conf, "model": replace(conf["model"], threads=threads)}
