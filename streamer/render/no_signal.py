"""The "no signal" frame viewers get while the source delivers nothing, saying why and ticking once a second."""
from __future__ import annotations

import time

import cv2
import numpy as np

NO_SIGNAL_SIZE = (360, 640)  # (h, w) of the "no signal" frame


def render_no_signal(reason: str, when: float, size: tuple[int, int] = NO_SIGNAL_SIZE) -> np.ndarray:
    """A dark frame saying NO SIGNAL, the reason (wrapped) and the wall time `when`, so it visibly ticks."""
    h, w = size
    img = np.full((h, w, 3), 32, np.uint8)
    cv2.putText(img, "NO SIGNAL", (w // 2 - 150, h // 3), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (80, 80, 255), 3,
                cv2.LINE_AA)
    words, lines, line = reason.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > 48:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    lines.append(line)
    for i, text in enumerate(lines[:4]):
        cv2.putText(img, text, (24, h // 3 + 50 + 30 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (220, 220, 220), 1,
                    cv2.LINE_AA)
    cv2.putText(img, time.strftime("%H:%M:%S", time.localtime(when)), (24, h - 24), cv2.FONT_HERSHEY_SIMPLEX,
                0.6, (160, 160, 160), 1, cv2.LINE_AA)
    return img
