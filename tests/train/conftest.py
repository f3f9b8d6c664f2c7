"""Fixtures for the training tests: the trained MiDaS_small proxy and tiny rendered RGB-D sets."""
from __future__ import annotations

import pytest

from tests.conftest import MIDAS

TRAINED = MIDAS / "trained_proxy.pt"  # a trained MiDaS_small (official key layout): a realistic starting point
# The 2 cores are shared with other jobs: one torch thread never spin-waits on a core someone else holds.
THREADS = 1


@pytest.fixture(autouse=True, scope="session")
def _few_threads():
    import torch

    torch.set_num_threads(THREADS)


@pytest.fixture(scope="session")
def tiny_demo(tmp_path_factory):
    """4 rendered rooms at 128x96 (NAME.png + NAME.depth.png); read-only for tests."""
    from streamer.train.synth import write_demo_dataset

    root = tmp_path_factory.mktemp("tiny_demo")
    write_demo_dataset(root, 4, seed=7, width=128, height=96)
    return root
