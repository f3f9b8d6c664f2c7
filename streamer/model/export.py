"""The ONNX export of MidasSmall, run in a short-lived child process by default, so the daemon never holds torch.

`python -m streamer.model.export WEIGHTS OUT HEIGHT WIDTH OPSET` loads the weights strictly (WeightsError: the
message on stderr, exit 78) and writes the graph to OUT. Importing torch and timm costs ~1 GB of resident memory
and seconds of start-up that would otherwise stay with the daemon for its whole life, and a process that has run
torch's exporter takes seconds to exit; a child returns all of it to the system when it ends.
"""
from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import warnings
from pathlib import Path

from streamer.errors import EXIT_CONFIG, StreamerError, WeightsError

PR_SET_PDEATHSIG = 1
DYNAMIC = 0  # height and width of the one export that takes every input size
DYNAMIC_TRACE_SIZE = 256  # the example input it is traced with (any multiple of 32)
EXPORT_TIMEOUT_S = 600.0  # a cold import of torch plus the export on a busy 2-core box takes seconds, not minutes


def export_network(network, out: str | Path, height: int, width: int, opset: int) -> None:
    """Write `network`'s graph for a 1x3xHxW input to `out` (imports torch). Height and width 0: one graph for every
    input size (dynamic axes), which photo uploads use so that no photo's aspect ever needs an export of its own."""
    import torch

    network = network.eval().cpu()
    dynamic = height == DYNAMIC and width == DYNAMIC
    dummy = torch.zeros(1, 3, *((DYNAMIC_TRACE_SIZE, DYNAMIC_TRACE_SIZE) if dynamic else (height, width)))
    axes = {"image": {2: "height", 3: "width"}, "depth": {1: "height", 2: "width"}} if dynamic else None
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice is not for users
        # The TorchScript exporter: ~1 s here against ~5 s for the dynamo one, same graph and speed in ORT.
        torch.onnx.export(network, (dummy,), str(out), dynamo=False, opset_version=opset, dynamic_axes=axes,
                          input_names=["image"], output_names=["depth"], do_constant_folding=True)


def export_in_child(weights: str | Path, targets: list[tuple[str | Path, int, int]], opset: int) -> None:
    """Run the strict load and the exports (out, height, width) in one child process; its WeightsError becomes ours."""
    args = [str(weights), str(opset), str(os.getpid()), *(str(x) for target in targets for x in target)]
    returncode, _, message = run_child("streamer.model.export", args, EXPORT_TIMEOUT_S, "the ONNX export")
    if returncode == EXIT_CONFIG:
        raise WeightsError(message)
    if returncode != 0:
        raise StreamerError(f"the ONNX export failed: {message}")


def run_child(module: str, args: list[str], timeout_s: float, what: str) -> tuple[int, str, str]:
    """`python -m MODULE ARGS` in a child process: (exit status, its stdout, the last line of its stderr or the exit
    status in words). For work whose memory must not stay with the daemon (torch's export, ONNX Runtime's
    quantiser): a child returns all of it to the system when it ends.

    The child dies with us: it is told to (PR_SET_PDEATHSIG, Linux, see die_with_parent) even if we are SIGKILLed,
    and whatever ends our wait early (a stop signal raised in this thread, a timeout) kills its whole process group
    before going on up."""
    proc = subprocess.Popen([sys.executable, "-m", module, *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            process_group=0)  # its own group: a terminal's Ctrl-C is ours to act on
    try:
        stdout, stderr = proc.communicate(timeout=timeout_s)
    except BaseException as exc:
        kill_group(proc)
        if isinstance(exc, subprocess.TimeoutExpired):
            raise StreamerError(f"{what} did not finish within {timeout_s:g} s") from None
        raise
    message = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit status {proc.returncode}"
    return proc.returncode, stdout, message


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the child's process group and reap the child (it holds no state worth a graceful end)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def die_with_parent(parent_pid: int) -> bool:
    """Ask the kernel to SIGKILL this process when its parent ends (Linux); False if the parent is already gone."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    return os.getppid() == parent_pid  # checked after the prctl: a parent that died before it is seen here


def main(argv: list[str]) -> int:
    """argv: WEIGHTS OPSET PARENT_PID, then OUT HEIGHT WIDTH for every graph to write (0 0: any size)."""
    weights, opset, parent, *targets = argv
    if not die_with_parent(int(parent)):
        return 1
    from streamer.model.midas import build_network
    from streamer.model.weights import read_state_dict

    try:
        network = build_network(read_state_dict(weights))
    except WeightsError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_CONFIG
    for i in range(0, len(targets), 3):
        out, height, width = targets[i:i + 3]
        export_network(network, out, int(height), int(width), int(opset))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
