"""`run --check`: besides the config (validated when it is loaded), the weights the daemon would load must be there,
be a MiDaS v2.1 small checkpoint and give finite depth - found now, with exit status 78, not at the next restart.

Cheap first: the official file is recognised by its sha256 alone; any other file is read without torch (layout,
archive checksums, NaN/Inf in its tensors, see `streamer.model.layout`), or, in the legacy pickle format, loaded
strictly with torch. Then the weights run once, as the daemon would run them, on a built-in image (the demo scene's
first frame): output with NaN or inf refuses them, whatever the tensors looked like.
"""
from __future__ import annotations

import logging

from streamer.core.finite import require_finite
from streamer.errors import NonFiniteOutput, WeightsError
from streamer.model import ModelOptions, build_network, load_depth_model
from streamer.model.layout import check_checkpoint
from streamer.model.weights import identify, read_state_dict, resolve_weights_path

log = logging.getLogger(__name__)


def check_weights(cli_path: str | None, options: ModelOptions) -> str:
    """A line describing the weights that would be loaded; WeightsError (exit 78) saying what is wrong otherwise."""
    file = identify(resolve_weights_path(cli_path, options.weights))  # exists, is a non-empty file; sha256
    if file.official:
        what = f"the official MiDaS v2.1 small file (sha256 {file.sha256[:16]}...)"
    else:
        if not check_checkpoint(file.path):  # the legacy pickle format: only torch reads it
            build_network(read_state_dict(file.path))  # strict: every key and shape of the official layout
        what = f"a MiDaS v2.1 small checkpoint that loads strictly, but NOT the official file (sha256 " \
               f"{file.sha256[:16]}...)"
    return f"weights {file.path}: {what}; {run_once(file.path, options)}"


def run_once(path, options: ModelOptions) -> str:
    """Run the network once on the demo scene's first frame; WeightsError when its output is not finite."""
    from streamer.sources.demo_scene import DemoScene

    model = load_depth_model(options, str(path))
    image = DemoScene(320, 240).render(0)[0]
    try:
        raw = require_finite(model.predict(image), "the built-in test image")
    except NonFiniteOutput as exc:
        raise WeightsError(f"weights file {path}: {exc}; the daemon would publish nothing. Use another checkpoint "
                           f"(`depth-streamer weights fetch`)") from None
    return f"one run on the built-in test image gives finite depth ({float(raw.min()):.4g}..{float(raw.max()):.4g})"
