"""The ONNX export cache: exported once, reused, never stale, repaired when damaged."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from streamer.errors import WeightsError
from streamer.model import ModelOptions, build_network, load_depth_model
from streamer.model.backends import OnnxRuntimeBackend
from streamer.model.weights import read_state_dict
from tests.conftest import SEED_WEIGHTS, subprocess_env


def _backend(cache, sha="a" * 64, opset=17):
    return OnnxRuntimeBackend(sha, lambda: build_network(read_state_dict(SEED_WEIGHTS)), cache, threads=1,
                              opset=opset)


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


def test_release_drops_every_session_and_the_next_run_rebuilds_it_from_the_cache(tmp_path):
    """While a low precision serves, the fp32 sessions are released (PrecisionManager.release_unused); a re-check's
    reference run builds its size again from the cached export, with the same output."""
    x = np.random.default_rng(1).standard_normal((1, 3, 64, 96)).astype(np.float32)
    b = _backend(tmp_path)
    before = b.infer(x)
    b.infer(np.zeros((1, 3, 64, 64), np.float32))
    assert b.open_sessions == 2
    b.release()
    assert b.open_sessions == 0
    np.testing.assert_array_equal(b.infer(x), before)
    assert b.open_sessions == 1 and b.exports == 2  # rebuilt from the cached file: no new export


def test_damaged_cache_file_is_exported_again(tmp_path):
    x = np.zeros((1, 3, 64, 64), np.float32)
    b = _backend(tmp_path)
    ref = b.infer(x)
    path = b.cache_path(64, 64)
    path.write_bytes(path.read_bytes()[:1000])  # truncated by a crash or a full disk
    again = _backend(tmp_path)
    np.testing.assert_array_equal(again.infer(x), ref)
    assert again.exports == 1


def _load_in_subprocess(cache, weights, code_after="") -> subprocess.CompletedProcess:
    code = ("import sys; from streamer.model import ModelOptions, load_depth_model; "
            f"m = load_depth_model(ModelOptions(backend='onnxruntime', device='cpu'), {str(weights)!r}); "
            "import numpy as np; d = m.predict(np.zeros((480, 640, 3), np.uint8)); "
            "print('torch imported:', 'torch' in sys.modules, d.shape)" + code_after)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False,
                          env=subprocess_env(DEPTH_STREAMER_CACHE=str(cache)))


def test_the_daemon_process_never_imports_torch_cold_or_warm(tmp_path):
    cold = _load_in_subprocess(tmp_path, SEED_WEIGHTS)
    assert cold.returncode == 0, cold.stderr
    # First run: the strict load and the export need torch, and run in a child process: this one never holds torch.
    assert "torch imported: False (192, 256)" in cold.stdout
    assert list(tmp_path.glob("onnx/midas_small_192x256_*.onnx"))
    warm = _load_in_subprocess(tmp_path, SEED_WEIGHTS)
    assert warm.returncode == 0, warm.stderr
    assert "torch imported: False (192, 256)" in warm.stdout  # same weights bytes: the cached export suffices


def test_bad_weights_fail_at_load_with_a_cold_cache(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(SEED_WEIGHTS.read_bytes()[:4096])
    with pytest.raises(WeightsError, match="truncated"):
        load_depth_model(ModelOptions(backend="onnxruntime", device="cpu"), str(bad))


def test_the_cache_is_capped_and_the_least_recently_used_export_goes_first(tmp_path):
    """Each new size used to leave a permanent export: a visitor could fill the disk. Now the cache keeps within
    its cap by removing what was used longest ago (a cache hit counts as a use)."""
    import os

    backend = _backend(tmp_path, sha="c" * 64)
    sizes = [(64, 64), (64, 96), (96, 64)]
    for h, w in sizes:
        backend.onnx_file(h, w)
    one = backend.cache_path(64, 64).stat().st_size
    old = backend.cache_path(64, 64).stat().st_mtime - 100
    for i, (h, w) in enumerate(sizes):  # used in this order, 64x64 longest ago...
        os.utime(backend.cache_path(h, w), (old + i, old + i))
    backend.onnx_file(64, 64)  # ...until this cache hit makes it the most recent
    backend.cache_max_bytes = int(3.5 * one)  # room for three (the sizes are within a few % of each other)
    backend.onnx_file(128, 64)  # a fourth export: one must go, the least recently used (64x96)
    kept = {(h, w) for h, w in [*sizes, (128, 64)] if backend.cache_path(h, w).is_file()}
    assert kept == {(64, 64), (96, 64), (128, 64)}
    assert not backend.cache_path(64, 96).with_suffix(".json").exists()  # its sidecar went with it
    assert sum(p.stat().st_size for p in tmp_path.glob("*.onnx")) <= backend.cache_max_bytes
    assert backend.exports == 4


def test_a_batch_worker_serves_without_spinning(tmp_path, monkeypatch):
    """The serving sessions spin between runs (the daemon's latency) unless the process said otherwise (a batch
    worker, whose decoder and encoder threads want the cores between network runs); uploads never spin."""
    import onnx
    from onnx import TensorProto, helper

    from streamer.model import backends

    graph = helper.make_graph([helper.make_node("Identity", ["image"], ["depth"])], "id",
                              [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("depth", TensorProto.FLOAT, [1])])
    path = tmp_path / "id.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))

    def spins(session) -> bool:  # ONNX Runtime spins unless the entry says "0" (absent: its default, spinning)
        try:
            return session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning") != "0"
        except RuntimeError:  # no such entry
            return True

    monkeypatch.setitem(backends._SPIN, "serving", True)  # this test process's policy, restored afterwards
    assert spins(backends.ort_session(path, 1)) and not spins(backends.ort_session(path, 1, spinning=False))
    backends.serve_without_spinning()
    assert not spins(backends.ort_session(path, 1))
    assert spins(backends.ort_session(path, 1, spinning=True))
