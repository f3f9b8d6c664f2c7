"""Verdicts kept across restarts: valid only for exactly what they were measured on, and never trusted damaged."""
from __future__ import annotations

import hashlib
import json
import logging

from streamer.model.precision.cache import Verdict, VerdictCache, verdict_key
from streamer.model.precision.cpu import CpuFeatures
from streamer.model.precision.gate import Thresholds
from streamer.model.precision.quantize import DEFAULT_SETTINGS

ZEN3 = CpuFeatures(frozenset({"avx2"}), "AMD EPYC 7R13 Processor", arch="x86")
ZEN4 = CpuFeatures(frozenset({"avx2", "avx512_vnni", "avx512_bf16"}), "AMD EPYC 9R14", arch="x86")


def _key(**changes):
    values = dict(weights_sha256="a" * 64, size=(192, 256), settings=DEFAULT_SETTINGS, thresholds=Thresholds(),
                  requested="auto", engine="auto", threads=0, cpu=ZEN3, source="rtsp://user:secret@cam/stream")
    return verdict_key(**{**values, **changes})


def test_a_verdict_serves_only_the_key_it_was_measured_for(tmp_path, caplog):
    cache = VerdictCache(tmp_path)
    model = tmp_path / "int8.onnx"
    model.write_bytes(b"int8 network bytes")
    verdict = Verdict("int8", "precision int8 (...)", {"precision": "int8", "nmae": 0.02}, str(model),
                      hashlib.sha256(model.read_bytes()).hexdigest(), "float32")
    path = cache.store(_key(), verdict)
    assert cache.load(_key()) == verdict
    assert "secret" not in path.read_text()  # the source is keyed by its URL's sha256, never in plain text
    for change in ({"weights_sha256": "b" * 64}, {"size": (240, 320)}, {"cpu": ZEN4}, {"requested": "int8"},
                   {"settings": DEFAULT_SETTINGS.__class__(reduce_range=True)}, {"source": "rtsp://cam/other"},
                   {"thresholds": Thresholds(max_nmae=0.02)}, {"engine": "onnxruntime"}):
        with caplog.at_level(logging.INFO):
            assert cache.load(_key(**change)) is None, change
        assert "precision cache miss" in caplog.text


def test_a_damaged_verdict_or_a_changed_int8_file_is_never_used(tmp_path, caplog):
    cache = VerdictCache(tmp_path)
    model = tmp_path / "int8.onnx"
    model.write_bytes(b"int8 network bytes")
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    path = cache.store(_key(), Verdict("int8", "r", None, str(model), digest))
    model.write_bytes(b"tampered")
    with caplog.at_level(logging.WARNING):
        assert cache.load(_key()) is None and "missing or changed" in caplog.text
    path.write_text("{not json")
    assert cache.load(_key()) is None and "unreadable" in caplog.text
    path.write_text(json.dumps({"key": _key(), "verdict": {"precision": "int8"}}))
    assert cache.load(_key()) is None and "malformed" in caplog.text
    fp32 = Verdict("fp32", "precision fp32 (none passed)", None)
    cache.store(_key(), fp32)
    assert cache.load(_key()) == fp32  # an fp32 verdict has no file to check
