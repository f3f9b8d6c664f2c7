"""`run --check`: besides the config (validated when it is loaded), the weights the daemon would load must be there
and be a MiDaS v2.1 small checkpoint - found now, with exit status 78, not at the next restart.

The official file is recognised by its sha256 alone (no torch needed). Any other file must at least look like a
PyTorch checkpoint (a zip archive or a pickle) - cheap, so garbage fails at once - and then load strictly into the
network, which needs torch; `--check` is not the hot path.
"""
from __future__ import annotations

import logging

from streamer.errors import WeightsError
from streamer.model import ModelOptions, build_network
from streamer.model.weights import identify, read_state_dict, resolve_weights_path

log = logging.getLogger(__name__)

ZIP_MAGIC = b"PK\x03\x04"  # torch.save since 1.6
PICKLE_MAGIC = b"\x80"  # the legacy format starts with a pickle (protocol 2+)


def check_weights(cli_path: str | None, options: ModelOptions) -> str:
    """A line describing the weights that would be loaded; WeightsError (exit 78) saying what is wrong otherwise."""
    file = identify(resolve_weights_path(cli_path, options.weights))  # exists, is a non-empty file; sha256
    if file.official:
        return f"weights {file.path}: the official MiDaS v2.1 small file (sha256 {file.sha256[:16]}...)"
    with file.path.open("rb") as f:
        head = f.read(4)
    if not (head.startswith(ZIP_MAGIC) or head.startswith(PICKLE_MAGIC)):
        raise WeightsError(f"weights file {file.path} is not a PyTorch checkpoint (it starts with {head!r}, neither "
                           f"a zip archive nor a pickle). Run `depth-streamer weights fetch`, or point --weights / "
                           f"model.weights at midas_v21_small_256.pt")
    build_network(read_state_dict(file.path))  # strict: every key and shape of the official layout
    return (f"weights {file.path}: a MiDaS v2.1 small checkpoint that loads strictly, but NOT the official file "
            f"(sha256 {file.sha256[:16]}...)")
