"""`eval`: run a predictor (BGR -> raw inverse depth) over an RGB-D folder and score it with the MiDaS protocol.

Each photo takes the still-photo path `infer` and POST /depth take (`streamer.photo`): read, then depth through
`photo_depth` (float32; NaN or inf output stops the run naming the photo: a score of NaN is no score)."""
from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from streamer.core.progress import Progress
from streamer.errors import StreamerError
from streamer.photo.depth import Predictor, photo_depth
from streamer.train.dataset import RGBDDataset
from streamer.train.metrics import METRICS, aggregate, anchored_metrics, depth_metrics

if TYPE_CHECKING:
    from streamer.model import DepthModel
    from streamer.train.metric_eval import MetricEval

log = logging.getLogger(__name__)


class ModelPredictor:
    """A loaded DepthModel as a Predictor, with the precision that actually runs (after the gate)."""

    def __init__(self, model: DepthModel) -> None:
        self.model = model

    @property
    def precision(self) -> str:
        return self.model.precision.serving

    def __call__(self, bgr: np.ndarray) -> np.ndarray:
        return self.model.predict(bgr)


def make_predictor(weights: str | None, precision: str = "fp32", threads: int = 0,
                   photos: list[Path] | None = None) -> ModelPredictor:
    """The network `eval --precision` scores, as the daemon would run it. The one place precision is wired.

    int8 is calibrated on the data set's own photos (real frames of the scenes being scored, never noise) and must
    pass the same accuracy gate against fp32 as in the daemon, on photos it was not calibrated on; when it does not,
    fp32 is scored and the log says why (the predictor's `precision` is what actually runs)."""
    from streamer.model import ModelOptions, load_depth_model

    options = ModelOptions(threads=threads, precision=precision)
    model = load_depth_model(options, weights_path=weights)
    if precision != "fp32":
        from streamer.model.precision.offline import apply_precision

        if not photos or len(photos) < 4:
            raise StreamerError(f"--precision {precision}: needs at least 4 photos to calibrate and gate on")
        with tempfile.TemporaryDirectory(prefix="eval-calibration-") as tmp:
            for i, photo in enumerate(photos):  # the folder also holds depth PNGs: give the calibrator photos only
                os.symlink(photo.resolve(), Path(tmp) / f"{i:06d}{photo.suffix.lower()}")
            choice = apply_precision(model, options, tmp, photos[:1])
        log.info("%s", choice.reason)
    return ModelPredictor(model)


def torch_predictor(network, net_size: int) -> Predictor:
    """Predictor for an in-memory torch MidasSmall (the trainer's validation); same preprocessing as the daemon."""
    import torch

    from streamer.model.preprocess import Preprocessor

    preprocess = Preprocessor(net_size)

    def predict(bgr: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return network(torch.from_numpy(preprocess(bgr)))[0].float().numpy()

    return predict


def evaluate(predict: Predictor, dataset: RGBDDataset, max_depth: float | None = None,
             progress: bool = True, label: str = "eval", anchors: int = 0, seed: int = 0,
             metric: MetricEval | None = None) -> dict:
    """{"images", "abs_rel", "rmse", "delta1", "delta2", "delta3", "per_image": [...], ...}. The figures are the
    least-squares oracle's (scale and shift from every true pixel); with `anchors` N, "anchored" also scores the
    fit from only N random true pixels per image (seeded by `seed` and the image's index); `metric` judges each
    image's metric map as the daemon would (verdict, expected AbsRel, sigma) and "metric" summarises it."""
    if max_depth is not None and not max_depth > 0:
        raise StreamerError(f"--max-depth must be > 0 metres, got {max_depth}")
    bar = Progress(len(dataset), label) if progress else None
    per_image, skipped = [], []
    t0 = time.perf_counter()
    for i in range(len(dataset)):
        sample = dataset.load(i)
        raw = photo_depth(predict, sample.bgr, sample.name)
        metrics = depth_metrics(raw, sample.depth, max_depth)
        if metrics is None:
            skipped.append(sample.name)  # no valid pixel (e.g. everything beyond --max-depth): nothing to score
        else:
            if anchors:
                rng = np.random.default_rng([seed, i])
                metrics["anchored"] = anchored_metrics(raw, sample.depth, anchors, rng, max_depth)
            judged = metric.image(i, sample, raw) if metric is not None else None
            if judged is not None:
                metrics["metric"] = judged
            per_image.append({"name": sample.name, **metrics})
        if bar:
            bar.update(1, **({"AbsRel": aggregate(per_image)["abs_rel"]} if per_image else {}))
    if bar:
        bar.close()
    seconds = time.perf_counter() - t0
    if skipped:
        log.warning("%d image(s) have no valid depth pixel and are not scored: %s", len(skipped),
                    ", ".join(skipped[:10]))
    result = aggregate(per_image)
    if anchors:
        result["anchored"] = aggregate_anchored(per_image, anchors)
    if metric is not None:
        result["metric"] = metric.summary()
    result.update({"per_image": per_image, "skipped": skipped, "max_depth": max_depth,
                   "seconds": round(seconds, 3), "images_per_s": round(len(dataset) / seconds, 3) if seconds else None})
    return result


def aggregate_anchored(per_image: list[dict], anchors: int) -> dict:
    """Means over the images the N-anchor fit succeeded on, the median ratio of its AbsRel to the oracle's on the
    same image, and how many images could not be anchored."""
    fitted = [m for m in per_image if m["anchored"] and m["anchored"]["ok"]]
    out: dict = {"anchors": anchors, "images": len(fitted), "failed": len(per_image) - len(fitted)}
    for key in METRICS:
        out[key] = float(np.mean([m["anchored"][key] for m in fitted])) if fitted else None
    ratios = [m["anchored"]["abs_rel"] / m["abs_rel"] for m in fitted if m["abs_rel"] > 0]
    out["median_ratio_to_oracle"] = float(np.median(ratios)) if ratios else None
    out["mean_used"] = float(np.mean([m["anchored"]["used"] for m in fitted])) if fitted else None
    return out


def format_table(result: dict, title: str = "") -> str:
    """The summary as a small fixed-width table (ASCII: it goes to logs and terminals alike)."""
    head = f"{'images':>6}  {'AbsRel':>7}  {'RMSE(m)':>8}  {'delta1':>6}  {'delta2':>6}  {'delta3':>6}"

    def cell(key: str, width: int, digits: int) -> str:
        value = result.get(key)
        return f"{value:>{width}.{digits}f}" if value is not None else f"{'-':>{width}}"

    row = (f"{result['images']:>6}  {cell('abs_rel', 7, 4)}  {cell('rmse', 8, 4)}  {cell('delta1', 6, 4)}  "
           f"{cell('delta2', 6, 4)}  {cell('delta3', 6, 4)}")
    lines = [title] if title else []
    anchored = result.get("anchored")
    if not anchored:
        return "\n".join(lines + [head, row])
    a = anchored
    arow = (f"{a['images']:>6}  {cell_of(a, 'abs_rel', 7, 4)}  {cell_of(a, 'rmse', 8, 4)}  "
            f"{cell_of(a, 'delta1', 6, 4)}  {cell_of(a, 'delta2', 6, 4)}  {cell_of(a, 'delta3', 6, 4)}")
    ratio = a["median_ratio_to_oracle"]
    note = (f"{a['anchors']} anchors per image: median AbsRel ratio to the oracle "
            f"{ratio:.3f}" if ratio is not None else f"{a['anchors']} anchors per image") + \
        (f", {a['mean_used']:.1f} used on average" if a["mean_used"] is not None else "") + \
        (f"; {a['failed']} image(s) could not be anchored" if a["failed"] else "")
    return "\n".join(lines + [f"{'':10}{head}", f"{'oracle':10}{row}", f"{'anchored':10}{arow}", note])


def cell_of(result: dict, key: str, width: int, digits: int) -> str:
    value = result.get(key)
    return f"{value:>{width}.{digits}f}" if value is not None else f"{'-':>{width}}"


def write_json(path: str | os.PathLike, result: dict) -> None:
    """Write atomically (temp file + rename), so a reader never sees half a report."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = ("images", *METRICS, "per_image")
    ordered = {k: result[k] for k in keys} | {k: v for k, v in result.items() if k not in keys}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(ordered, f, indent=1)
            f.write("\n")
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
