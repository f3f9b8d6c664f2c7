"""`depth-streamer bench train`: how fast `train` and `eval` run on this box, on a rendered RGB-D set, one run.

A `dataset demo` set of `count` 640x480 frames is rendered into a temporary folder; `eval` is timed at fp32 (and at
int8 when the precision path builds one), then `train` runs `epochs` epochs at its default size and batch; the last
epoch's images/s is the steady rate (the first carries the warm-up). The load average is printed beside each figure.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from streamer.tools.measure import load_1m
from streamer.train.config import TrainOptions
from streamer.train.dataset import RGBDDataset
from streamer.train.evaluate import evaluate, make_predictor
from streamer.train.synth import write_demo_dataset
from streamer.train.trainer import Trainer


def bench_train(weights: str, count: int = 24, epochs: int = 2, threads: int = 0) -> dict:
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        data = Path(tmp) / "data"
        write_demo_dataset(data, count, seed=1)
        print(f"rendered {count} RGB-D pairs at 640x480; load {load_1m()}", flush=True)
        dataset = RGBDDataset(data)
        for precision in ("fp32", "int8"):
            try:
                predict = make_predictor(weights, precision, threads, [p.photo for p in dataset.pairs])
            except Exception as exc:  # int8 may be refused (no calibration frames, gate failed, CPU without VNNI)
                print(f"eval {precision}: not measured ({exc})")
                continue
            result = evaluate(predict, dataset)
            results[f"eval_{precision}"] = result["images_per_s"]
            ran = predict.precision
            print(f"eval {precision} (ran {ran}): {result['images_per_s']:.2f} images/s "
                  f"(AbsRel {result['abs_rel']:.3f}); load {load_1m()}", flush=True)
        opts = TrainOptions(data=str(data), out=str(Path(tmp) / "tuned.pt"), weights=weights, epochs=epochs,
                            threads=threads, val_split=0.0)
        summary = Trainer(opts).run()
        rates = [h["images_per_s"] for h in summary["history"] if h["epoch"] > 0]
        results["train_images_per_s"] = rates[-1] if rates else None
        print(f"train --size {opts.size} --batch {opts.batch}: {results['train_images_per_s']} images/s "
              f"(epoch rates {rates}); load {load_1m()}", flush=True)
    return results
