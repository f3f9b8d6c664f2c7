"""Offline precision (infer, eval): calibrate, gate and race once on a video or an image folder, then serve the
choice for the whole run; no re-checks, nothing kept running beside it."""
from __future__ import annotations

from collections.abc import Sequence

import cv2

from streamer.model.precision import PrecisionState
from streamer.model.precision.calibration import load_frame_set
from streamer.model.precision.choose import Choice
from streamer.model.precision.manager import PrecisionManager, explain


def apply_precision(model, options, calibration: str | None, images: Sequence = ()) -> Choice:
    """Offline (infer, eval): calibrate, gate and race on a video or image folder, then switch `model` to the choice.

    The gate runs at the network size of the first readable of `images` (the size infer will use), else at the
    calibration frames' own size."""
    switch = model.precision_switch()
    manager = PrecisionManager(options, model.fp32_backend)
    choice = manager.choice
    if manager.wants_frames and not calibration:
        choice = Choice("fp32", model.fp32_backend, [],
                        f"precision fp32 ({options.precision} needs real frames: pass --calibration VIDEO_OR_DIR)")
    elif manager.wants_frames:
        assert calibration  # the branch above took the case without
        frames = load_frame_set(calibration, options.calibration_frames, options.gate_frames)
        size = None
        for path in images:
            first = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if first is not None:
                size = manager.net_size_for(first)
                break
        choice = manager.select(frames, size)
    explain(options.precision, choice)
    r = choice.result
    switch.set(PrecisionState(choice.precision, options.precision, False, choice.reason, r.as_dict() if r else None,
                              "measured", manager.builds, preprocess=manager.preprocess.mode), choice.backend)
    return choice
