"""The one finiteness check: NaN or inf depth is never a result, on live frames or on still photos."""
from __future__ import annotations

import numpy as np

from streamer.errors import NonFiniteOutput


def require_finite(raw: np.ndarray, what: str) -> np.ndarray:
    """`raw` if every value is finite; NonFiniteOutput naming `what` otherwise (NaN depth is never a result)."""
    if not np.isfinite(raw).all():
        bad = int(np.count_nonzero(~np.isfinite(raw)))
        raise NonFiniteOutput(f"model output not finite on {what}: {bad} of {raw.size} values NaN or inf (broken "
                              f"weights? `depth-streamer run --check` tests them)")
    return raw
