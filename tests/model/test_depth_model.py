"""DepthModel (streamer/model/__init__.py): the precision state is read-only with one writer, and the model
preprocesses as the state says."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from streamer.model import DepthModel
from streamer.model.precision import PrecisionState
from streamer.model.precision.calibration import load_frame_set
from streamer.model.precision.gate import compare
from streamer.model.weights import WeightsFile
from tests.conftest import VIDEO
from tests.model.precision.fakes import Fake


def test_the_precision_state_is_read_only_and_has_one_writer():
    model = DepthModel(Fake(), WeightsFile(path=VIDEO, sha256="0" * 64))
    assert model.meta["precision"] == "fp32" and model.precision == PrecisionState()
    with pytest.raises(dataclasses.FrozenInstanceError):
        model.precision.serving = "int8"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        model.precision = PrecisionState("int8")  # type: ignore[misc]
    switch = model.precision_switch()
    result = compare([np.arange(12.0).reshape(3, 4)], [np.arange(12.0).reshape(3, 4)], "int8")
    int8 = Fake(precision="int8")
    switch.set(PrecisionState("int8", "auto", reason="gated", error=result.as_dict(), origin="measured"), int8)
    assert model.backend is int8 and model.precision.serving == "int8"
    assert model.meta["precision"] == "int8" and model.meta["precision_error"]["nmae"] == 0.0
    newer = model.precision_switch()  # a reload's new stage: fp32 again, and the old writer is disabled
    assert model.backend is model.fp32_backend and model.precision.serving == "fp32"
    with pytest.raises(RuntimeError, match="replaced"):
        switch.set(PrecisionState("int8"), int8)
    assert newer.update(pending=True).pending and model.meta["precision_pending"]


def test_the_model_preprocesses_as_its_state_says():
    fp32 = Fake()
    model = DepthModel(fp32, WeightsFile(path=VIDEO, sha256="0" * 64))
    bgr = load_frame_set(VIDEO / "realshort.mp4", 2, 2).held_out[0]
    exact = model.predict(bgr)
    model.precision_switch().update(preprocess="float32")
    fast = model.predict(bgr)
    assert model.meta["preprocess"] == "float32" and fast.shape == exact.shape
    assert 0 < np.abs(fast - exact).max() < 1e-3  # another path, numerically almost the same
    model.precision_switch().update(preprocess="uint8")
    small = model.predict(bgr)
    assert model.meta["preprocess"] == "uint8" and small.shape == exact.shape and np.abs(small - exact).max() > 1e-3
