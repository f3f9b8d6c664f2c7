"""The Backend protocols: what each backend is, by type (choose() and uploads rely on it, never on attribute names)."""
from __future__ import annotations

from streamer.model.backends import OnnxRuntimeBackend
from streamer.model.interface import Backend, OnnxExport
from streamer.model.precision.backends import OrtFileBackend


def test_backends_by_protocol(tmp_path):
    fp32 = OnnxRuntimeBackend("0" * 64, tmp_path / "weights.pt", tmp_path / "onnx", threads=1)
    int8 = OrtFileBackend(fp32.onnx_file, "int8", threads=1)
    assert isinstance(fp32, Backend) and isinstance(fp32, OnnxExport)
    assert isinstance(int8, Backend) and not isinstance(int8, OnnxExport)  # runs a prepared file: nothing to export
    assert int8.model_file == fp32.onnx_file

    def builder():
        return int8
    assert not isinstance(builder, Backend)  # a candidate's builder is called, a backend is used as is
