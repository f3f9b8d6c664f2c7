"""streamer.model.layout: a checkpoint's layout and finiteness read without torch agree with the strict torch load,
and every damaged, foreign or NaN file is refused with a line naming the file and the tensor."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from streamer.errors import WeightsError
from streamer.model.layout import check_checkpoint, expected_layout, read_layout
from streamer.model.midas import MidasSmall
from tests.conftest import MIDAS, SEED_WEIGHTS


@pytest.fixture(scope="module")
def seed_state():
    return torch.load(SEED_WEIGHTS, map_location="cpu", weights_only=True)


def test_the_stored_layout_is_the_networks():
    assert expected_layout() == {k: tuple(v.shape) for k, v in MidasSmall().state_dict().items()}


@pytest.mark.parametrize("name", ["random_seed0.pt", "trained_proxy.pt"])
def test_good_checkpoints_pass_and_their_shapes_are_read_exactly(name, seed_state):
    path = MIDAS / name
    assert check_checkpoint(path) is True
    tensors, archive = read_layout(path)
    archive.close()
    state = torch.load(path, map_location="cpu", weights_only=True)
    assert {k: v.shape for k, v in tensors.items()} == {k: tuple(v.shape) for k, v in state.items()}


def test_checks_without_importing_torch():
    code = ("import sys; from pathlib import Path; from streamer.model.layout import check_checkpoint; "
            f"check_checkpoint(Path({str(SEED_WEIGHTS)!r})); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr


def _refusal(tmp_path, obj) -> str:
    path = tmp_path / "w.pt"
    torch.save(obj, path)
    with pytest.raises(WeightsError) as info:
        check_checkpoint(path)
    assert str(path) in str(info.value)
    return str(info.value)


def test_missing_extra_and_mis_shaped_keys_are_named(tmp_path, seed_state):
    state = {k: v for k, v in seed_state.items() if k != "pretrained.layer1.0.weight"}
    assert "1 missing keys (first: pretrained.layer1.0.weight)" in _refusal(tmp_path, state)
    assert "1 unexpected keys (first: head.fc.weight)" in _refusal(tmp_path, {**seed_state,
                                                                              "head.fc.weight": torch.zeros(3)})
    msg = _refusal(tmp_path, {**seed_state, "scratch.layer1_rn.weight": torch.zeros(64, 32, 1, 1)})
    assert "scratch.layer1_rn.weight: file (64, 32, 1, 1) vs model (64, 32, 3, 3)" in msg


def test_wrapped_state_dicts_are_unwrapped(tmp_path, seed_state):
    path = tmp_path / "wrapped.pt"
    torch.save({"model": seed_state}, path)
    assert check_checkpoint(path) is True


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_non_finite_tensor_is_named(tmp_path, seed_state, bad):
    state = dict(seed_state)
    weight = state["scratch.output_conv.4.weight"].clone()
    weight.view(-1)[0] = bad
    state["scratch.output_conv.4.weight"] = weight
    msg = _refusal(tmp_path, state)
    assert "scratch.output_conv.4.weight holds 1 NaN/Inf values" in msg


def test_truncated_and_garbled_files(tmp_path):
    data = SEED_WEIGHTS.read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match="truncated/corrupt"):
        check_checkpoint(truncated)
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0xFF  # inside some tensor's bytes: the archive's CRC catches it
    garbled = tmp_path / "garbled.pt"
    garbled.write_bytes(bytes(flipped))
    with pytest.raises(WeightsError, match="truncated/corrupt"):
        check_checkpoint(garbled)


def test_pickled_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("owned",))

    path = tmp_path / "evil.pt"
    torch.save({"x": Evil()}, path)
    with pytest.raises(WeightsError, match="not a plain state dict"):
        check_checkpoint(path)


def test_legacy_format_is_left_to_torch(tmp_path, seed_state):
    path = tmp_path / "legacy.pt"
    torch.save(seed_state, path, _use_new_zipfile_serialization=False)
    assert check_checkpoint(path) is False
