"""The ONNX export cache: exported once, reused, never stale, repaired when damaged."""
from __future__ import annotations

import numpy as np

from streamer.model import build_network
from streamer.model.backends import OnnxRuntimeBackend
from streamer.model.weights import read_state_dict
from tests.conftest import SEED_WEIGHTS


def _backend(cache, sha="a" * 64, opset=17):
    network = build_network(read_state_dict(SEED_WEIGHTS))
    return OnnxRuntimeBackend(network, sha, cache, threads=1, opset=opset)


def test_export_is_cached_and_reused(tmp_path):
    x = np.random.default_rng(0).standard_normal((1, 3, 64, 96)).astype(np.float32)
    first = _backend(tmp_path)
    y1 = first.infer(x)
    assert first.exports == 1 and y1.shape == (64, 96)
    second = _backend(tmp_path)
    y2 = second.infer(x)
    assert second.exports == 0  # same weights, size, opset and versions: reused from disk
    np.testing.assert_array_equal(y1, y2)


def test_key_covers_weights_size_and_opset(tmp_path):
    b = _backend(tmp_path)
    paths = {b.cache_path(64, 96), b.cache_path(96, 64), _backend(tmp_path, sha="b" * 64).cache_path(64, 96),
             _backend(tmp_path, opset=18).cache_path(64, 96)}
    assert len(paths) == 4
    key = b.cache_key(64, 96)
    assert {"weights_sha256", "input", "opset", "torch", "onnx", "onnxruntime"} <= set(key)


def test_other_weights_never_use_a_stale_export(tmp_path):
    x = np.zeros((1, 3, 64, 64), np.float32)
    _backend(tmp_path, sha="a" * 64).infer(x)
    other = _backend(tmp_path, sha="b" * 64)
    other.infer(x)
    assert other.exports == 1


def test_damaged_cache_file_is_exported_again(tmp_path):
    x = np.zeros((1, 3, 64, 64), np.float32)
    b = _backend(tmp_path)
    ref = b.infer(x)
    path = b.cache_path(64, 64)
    path.write_bytes(path.read_bytes()[:1000])  # truncated by a crash or a full disk
    again = _backend(tmp_path)
    np.testing.assert_array_equal(again.infer(x), ref)
    assert again.exports == 1
