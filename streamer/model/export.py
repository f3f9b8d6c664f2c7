"""The ONNX export of MidasSmall, run in a short-lived child process by default, so the daemon never holds torch.

`python -m streamer.model.export WEIGHTS OUT HEIGHT WIDTH OPSET` loads the weights strictly (WeightsError: the
message on stderr, exit 78) and writes the graph to OUT. Importing torch and timm costs ~1 GB of resident memory
and seconds of start-up that would otherwise stay with the daemon for its whole life, and a process that has run
torch's exporter takes seconds to exit; a child returns all of it to the system when it ends.
"""
from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

from streamer.errors import EXIT_CONFIG, StreamerError, WeightsError

EXPORT_TIMEOUT_S = 600.0  # a cold import of torch plus the export on a busy 2-core box takes seconds, not minutes


def export_network(network, out: str | Path, height: int, width: int, opset: int) -> None:
    """Write `network`'s graph for a 1x3xHxW input to `out` (imports torch)."""
    import torch

    network = network.eval().cpu()
    dummy = torch.zeros(1, 3, height, width)
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice is not for users
        # The TorchScript exporter: ~1 s here against ~5 s for the dynamo one, same graph and speed in ORT.
        torch.onnx.export(network, (dummy,), str(out), dynamo=False, opset_version=opset,
                          input_names=["image"], output_names=["depth"], do_constant_folding=True)


def export_in_child(weights: str | Path, out: str | Path, height: int, width: int, opset: int) -> None:
    """Run the strict load and the export in a child process; its WeightsError becomes ours."""
    cmd = [sys.executable, "-m", "streamer.model.export", str(weights), str(out), str(height), str(width), str(opset)]
    try:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=EXPORT_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise StreamerError(f"the ONNX export did not finish within {EXPORT_TIMEOUT_S:g} s") from None
    message = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit status {proc.returncode}"
    if proc.returncode == EXIT_CONFIG:
        raise WeightsError(message)
    if proc.returncode != 0:
        raise StreamerError(f"the ONNX export failed: {message}")


def main(argv: list[str]) -> int:
    weights, out, height, width, opset = argv
    from streamer.model.midas import build_network
    from streamer.model.weights import read_state_dict

    try:
        network = build_network(read_state_dict(weights))
    except WeightsError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_CONFIG
    export_network(network, out, int(height), int(width), int(opset))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
