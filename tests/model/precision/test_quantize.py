"""The int8 files kept per fp32 export: bounded, least recently used removed first, the one in use never; the
quantiser runs in a child process."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from streamer.errors import StreamerError
from streamer.model.precision.quantize import int8_file, prune_int8, touch
from tests.conftest import subprocess_env


def test_int8_files_are_capped_least_recently_used_first(tmp_path):
    fp32 = tmp_path / "midas_small_192x256_abc.onnx"
    fp32.write_bytes(b"fp32")
    other = tmp_path / "midas_small_96x128_def.int8_0.onnx"  # another export's: not this one's to prune
    other.write_bytes(b"x")
    files = []
    for i in range(6):
        f = tmp_path / f"{fp32.stem}.int8_{i}.onnx"
        f.write_bytes(b"int8")
        f.with_suffix(".json").write_text("{}")
        os.utime(f, (1000 + i, 1000 + i))
        files.append(f)
    touch(files[0])  # the oldest, used just now (a cache hit): kept
    removed = prune_int8(fp32, keep=files[1], max_files=3)  # files[1]: the one just made, kept whatever its age
    assert sorted(removed) == sorted(files[2:5])
    assert all(not f.exists() and not f.with_suffix(".json").exists() for f in removed)
    assert files[0].exists() and files[1].exists() and files[5].exists() and other.exists() and fp32.exists()
    assert prune_int8(fp32, keep=files[1], max_files=3) == []  # at the cap: nothing more


def test_the_quantiser_runs_in_a_child_process_and_its_file_serves(tmp_path):
    """ONNX Runtime's calibrator holds every intermediate tensor of every frame (+520 MB at the peak) and its imports
    (+40 MB) would stay with the daemon: the quantisation runs in a child, and the caller never imports it."""
    import onnx
    import onnxruntime

    from streamer.model import build_network
    from streamer.model.backends import OnnxRuntimeBackend
    from streamer.model.weights import read_state_dict
    from tests.conftest import SEED_WEIGHTS

    fp32 = OnnxRuntimeBackend("s" * 64, lambda: build_network(read_state_dict(SEED_WEIGHTS)), tmp_path, threads=1)
    src = fp32.onnx_file(64, 64)
    code = ("import sys, numpy as np\n"
            "from pathlib import Path\n"
            "from streamer.model.precision.quantize import int8_file\n"
            "rng = np.random.default_rng(0)\n"
            "inputs = [rng.random((1, 3, 64, 64), np.float32) for _ in range(4)]\n"
            f"path, built = int8_file(Path({str(src)!r}), lambda: inputs, 'digest')\n"
            "print(built, 'onnxruntime.quantization' in sys.modules, 'onnx' in sys.modules, path)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False,
                         env=subprocess_env())
    assert out.returncode == 0, out.stderr
    built, quantiser, onnx_loaded, path = out.stdout.split()
    assert (built, quantiser, onnx_loaded) == ("True", "False", "False"), out.stdout
    assert "QuantizeLinear" in {n.op_type for n in onnx.load(path).graph.node}
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    assert session.run(None, {"image": np.zeros((1, 3, 64, 64), np.float32)})[0].shape == (1, 64, 64)
    assert not list(tmp_path.glob(".quant.*"))  # its work folder is gone


def test_a_failing_quantiser_child_is_one_error_and_leaves_no_work_folder(tmp_path):
    src = tmp_path / "midas_small_64x64_x.onnx"
    src.write_bytes(b"not an onnx file")
    src.with_suffix(".json").write_text('{"key": {}, "sha256": "x"}')
    with pytest.raises(StreamerError, match="the int8 quantisation failed: "):
        int8_file(src, lambda: [np.zeros((1, 3, 64, 64), np.float32)], "digest")
    assert not list(tmp_path.glob(".quant.*")) and not list(tmp_path.glob("*.int8_*"))
