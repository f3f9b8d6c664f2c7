"""Gated verdicts kept across restarts: what served last time on these weights, settings, CPU, engines and source.

A verdict is the choice the gate and the race made (fp32 included) and, for int8, the quantised file it served. It
is valid only for exactly what it was measured on: the weights' sha256, the network input size, the quantisation
settings and gate thresholds, the request and engine, the CPU (model and every flag), the engine versions, and the
source (by the sha256 of its URL: a URL may hold a password, which must never reach a file in plain text). A
restart that matches serves the low precision at once and re-checks it on the new run's first live frames; one
that does not match - or whose re-check fails - calibrates and gates from scratch.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

from streamer.core import jsonlimit
from streamer.core.files import atomic_write, file_sha256
from streamer.model.backends import package_version

log = logging.getLogger(__name__)
REVISION = 1  # bump when what a verdict means changes


@dataclass(frozen=True)
class Verdict:
    precision: str
    reason: str
    result: dict | None  # the serving precision's GateResult.as_dict() (None for fp32)
    model_file: str | None = None  # int8: the quantised file that served (checked by sha256 before use)
    model_sha256: str | None = None
    preprocess: str = "exact"  # the preprocessing that passed its own gate with it


def verdict_key(*, weights_sha256: str, size: tuple[int, int], settings, thresholds, requested: str, engine: str,
                threads: int, cpu, source: str, layout: dict | None = None) -> dict:
    key = {"revision": REVISION, "weights_sha256": weights_sha256, "input": list(size),
           "quantisation": asdict(settings), "thresholds": asdict(thresholds), "requested": requested,
           "engine": engine, "threads": threads, "layout": layout or {}, "cpu": cpu.identity(),
           "versions": {p: package_version(p) for p in ("onnxruntime", "openvino", "onnx")},
           "source_sha256": hashlib.sha256(source.encode()).hexdigest()}
    return json.loads(json.dumps(key))  # as it will read back (tuples become lists)


class VerdictCache:
    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def path(self, key: dict) -> Path:
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
        return self.directory / f"verdict_{digest}.json"

    def load(self, key: dict) -> Verdict | None:
        """The verdict stored under exactly this key, its int8 file intact; None otherwise (said in the log)."""
        path = self.path(key)
        try:
            doc = jsonlimit.load_object(path, what=str(path))
        except FileNotFoundError:
            log.info("precision cache miss: no verdict for these weights, settings, CPU, engines and source")
            return None
        except (OSError, ValueError) as exc:
            log.warning("precision cache %s unreadable (%s); deciding again", path, exc)
            return None
        if doc.get("key") != key:
            log.warning("precision cache %s holds another key; deciding again", path)
            return None
        try:
            verdict = Verdict(**doc["verdict"])
        except (KeyError, TypeError) as exc:
            log.warning("precision cache %s is malformed (%s); deciding again", path, exc)
            return None
        if verdict.model_file is not None:
            try:
                intact = file_sha256(Path(verdict.model_file)) == verdict.model_sha256
            except OSError:
                intact = False
            if not intact:
                log.warning("precision cache: %s is missing or changed; deciding again", verdict.model_file)
                return None
        return verdict

    def store(self, key: dict, verdict: Verdict) -> Path:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, json.dumps({"key": key, "verdict": asdict(verdict)}, indent=1, sort_keys=True))
        return path
