"""`infer --anchors FILE.json` and `--ply`: metric depth and point clouds for still images, without the daemon.

The anchors file maps an input's file name to known depths in its own pixels: {"NAME.png": [[u, v, metres], ...]}.
The network's map is resized to the input's size (bilinear, as the evaluation protocol does), the same robust fit as
the daemon's `points` mode gives scale and shift, and DIR/<stem>.metric.npy holds float32 z-depth in metres at the
input's resolution (NaN invalid, +inf beyond [metric] max_range_m). `--ply` back-projects it with [camera] into
DIR/<stem>.ply (binary little-endian; x y z float32 + red green blue uchar; camera optical frame, REP 103).
"""
from __future__ import annotations

import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from streamer.core import jsonlimit
from streamer.errors import ConfigError, StreamerError
from streamer.geometry import CameraOptions, backproject, to_metric
from streamer.geometry.anchors import AnchorSet, fit_points
from streamer.geometry.error_model import ErrorModel
from streamer.geometry.verdict import assess, points_evidence
from streamer.steady import MetricOptions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MetricOutputs:
    """What `infer` writes beside NAME.npy: anchors per file name (None: no --anchors), PLY or not."""

    anchors: dict[str, AnchorSet] | None
    ply: bool
    camera: CameraOptions
    metric: MetricOptions
    error_model: ErrorModel | None = None  # [metric] error_model, checked against the weights (points mode)


def load_anchors(path: Path) -> dict[str, AnchorSet]:
    """The --anchors file; ConfigError naming the file and the entry that is wrong."""
    try:
        data = jsonlimit.load(path, what=f"--anchors {path}", max_bytes=64 << 20)
    except OSError as exc:
        raise ConfigError(f"--anchors {path}: cannot read it ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if not isinstance(data, dict):
        raise ConfigError(f'--anchors {path}: expected an object {{"NAME.png": [[u, v, metres], ...]}}')
    out = {}
    for name, items in data.items():
        if not isinstance(items, list):
            raise ConfigError(f"--anchors {path}: {name!r}: expected a list of [u, v, metres]")
        try:
            out[name] = AnchorSet.parse(items)
        except ValueError as exc:
            raise ConfigError(f"--anchors {path}: {name!r}: {exc}") from None
    return out


def names(anchors: dict[str, AnchorSet], limit: int = 5) -> str:
    """The first few entry names of an anchors file, for messages."""
    keys = sorted(anchors)
    return ", ".join(keys[:limit]) + (f" and {len(keys) - limit} more" if len(keys) > limit else "") or "none"


def unmatched(anchors: dict[str, AnchorSet], inputs: list[Path]) -> dict[str, AnchorSet]:
    """The entries of an anchors file that name none of the inputs (matched by file name, e.g. "room.png")."""
    given = {p.name for p in inputs}
    return {k: v for k, v in anchors.items() if k not in given}


def write_metric(raw: np.ndarray, image: np.ndarray, name: str, out: Path, stem: str,
                 options: MetricOutputs, write: Callable[[Path, bytes], None]) -> tuple[list[str], dict | None]:
    """NAME.metric.npy, NAME.sigma.npy (one sigma, metres) and NAME.ply for one image, each through `write` (whole
    or not at all); returns the files written and, with --anchors, the verdict block for infer.json (a `refused`
    map is not written). StreamerError naming the image when it cannot be anchored (its relative outputs are
    written by then)."""
    h, w = image.shape[:2]
    depth = cv2.resize(raw.astype(np.float32, copy=False), (w, h), interpolation=cv2.INTER_LINEAR)
    if options.anchors is not None:
        anchors = options.anchors.get(name)
        if anchors is None:
            raise StreamerError(f"{name}: no entry in the --anchors file (its entries: {names(options.anchors)}); "
                                "relative depth only")
        p = fit_points(depth, anchors, w, h, tol=options.metric.anchor_tolerance)
        for reason in p.rejected:
            log.warning("%s: %s", name, reason)
        if not p.fit.ok:
            raise StreamerError(f"{name}: cannot anchor: {p.fit.reason}; relative depth only")
        scale, shift = p.fit.scale, p.fit.shift
        m = options.metric
        judged = assess(points_evidence(depth, p, m.max_range_m), mode="points", max_rel_error=m.max_rel_error,
                        max_range_m=m.max_range_m, extrapolation=m.extrapolation, model=options.error_model)
        info = {"verdict": judged.verdict, "reason": judged.reason,
                "expected_abs_rel": round(judged.expected_abs_rel, 5) if np.isfinite(judged.expected_abs_rel)
                else None, "used": p.used, "given": p.given, "residual": round(p.fit.residual, 5),
                "scale": scale, "shift": shift, "evidence": judged.evidence.header()}
        log.info("%s: %d of %d anchors used, median error %.1f %%; %s: %s", name, p.used, p.given,
                 p.fit.residual * 100, judged.verdict, judged.reason)
        if judged.verdict == "refused":
            log.warning("%s: metric depth refused (%s); relative depth only", name, judged.reason)
            return [], info
        range_m: float = judged.range_m
    elif options.metric.mode == "fixed":
        scale, shift, judged, info = options.metric.scale, options.metric.shift, None, None
        range_m = options.metric.max_range_m
    else:
        raise StreamerError("--ply needs metric depth: give --anchors FILE.json or [metric] mode = \"fixed\"")
    metric = to_metric(depth, scale, shift, range_m)
    written = [f"{stem}.metric.npy"]
    _save(write, out / written[0], metric)
    if judged is not None:
        written.append(f"{stem}.sigma.npy")
        _save(write, out / written[-1], judged.sigma(depth, scale, shift, metric))
    if options.ply:
        camera = options.camera.model(w, h)
        if camera is None:
            raise ConfigError("--ply needs the camera's intrinsics: [camera] fx, fy, cx, cy (with width, height) "
                              "or hfov_deg, from --config or --set camera.fx=...")
        cloud = backproject(metric, camera, bgr=image)
        write(out / f"{stem}.ply", ply_bytes(cloud.xyz, cloud.rgb))
        written.append(f"{stem}.ply")
    return written, info


def _save(write: Callable[[Path, bytes], None], path: Path, array: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    write(path, buffer.getvalue())


def ply_bytes(xyz: np.ndarray, rgb: np.ndarray | None) -> bytes:
    """Binary little-endian PLY with one `vertex` element: x y z float32 (+ red green blue uchar)."""
    from plyfile import PlyData, PlyElement

    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    if rgb is not None:
        fields += [("red", "u1"), ("green", "u1"), ("blue", "u1")]
    vertex = np.empty(len(xyz), dtype=fields)
    vertex["x"], vertex["y"], vertex["z"] = xyz[:, 0], xyz[:, 1], xyz[:, 2]
    if rgb is not None:
        vertex["red"], vertex["green"], vertex["blue"] = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    buffer = io.BytesIO()
    PlyData([PlyElement.describe(vertex, "vertex")], text=False, byte_order="<").write(buffer)
    return buffer.getvalue()
