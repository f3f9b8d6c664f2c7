"""PhotoRunner's footprint: the uploads' graph is exported at start-up (never by a visitor at upload_nice), but its
ONNX Runtime session (~65 MB) exists only from the first photo on, until `keep_s` after the last one. (The upload
path itself, over real sockets, is tested in tests/publish/http/test_upload.py.)"""
from __future__ import annotations

import time

import numpy as np
import pytest

from streamer.model import ModelOptions, load_depth_model
from streamer.model.export import DYNAMIC
from streamer.model.photo_runner import PhotoRunner
from streamer.model.preprocess import network_size
from tests.conftest import SEED_WEIGHTS

NET = 128
pytestmark = pytest.mark.cold_cache  # these count the export children a start runs


def test_no_uploads_session_exists_until_the_first_photo():
    model = load_depth_model(ModelOptions(net_size=NET), str(SEED_WEIGHTS))  # a cold cache: one export child
    backend = model.fp32_backend
    graph = backend.cache_path(DYNAMIC, DYNAMIC)
    runner = PhotoRunner(model, threads=1)
    runner.prepare()  # what the pipeline's warm-up calls
    assert graph.is_file() and backend.exports == 0  # the graph is ready, made by the start's export child
    assert not runner.loaded  # ... and no session holds it in memory
    model.warm_up(640, 480)  # the live stream runs: still no uploads session
    assert not runner.loaded
    depth = runner.depth(np.random.default_rng(0).integers(0, 255, (200, 300, 3), np.uint8))
    assert runner.loaded and depth.shape == network_size(300, 200, NET)[::-1]
    assert backend.child_exports == 1  # the first photo found the graph: no export at its niceness


def test_prepare_exports_a_missing_graph_at_start_up_without_a_session():
    """An export cache that lost only the uploads' graph (evicted, deleted): the start exports it again, at full
    priority, rather than the first visitor at upload_nice."""
    model = load_depth_model(ModelOptions(net_size=NET), str(SEED_WEIGHTS))
    backend = model.fp32_backend
    graph = backend.cache_path(DYNAMIC, DYNAMIC)
    graph.unlink()
    runner = PhotoRunner(model, threads=1)
    runner.prepare()
    assert graph.is_file() and backend.child_exports == 2 and not runner.loaded


def test_the_session_is_released_after_keep_s_without_a_photo_and_the_next_photo_builds_it_again():
    model = load_depth_model(ModelOptions(net_size=NET), str(SEED_WEIGHTS))
    runner = PhotoRunner(model, threads=1, keep_s=0.3)
    photo = np.random.default_rng(1).integers(0, 255, (120, 160, 3), np.uint8)
    first = runner.depth(photo)
    assert runner.loaded
    deadline = time.monotonic() + 30
    while runner.loaded and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not runner.loaded  # released: its memory is back
    np.testing.assert_array_equal(runner.depth(photo), first)  # built again from the cached graph, same depth
    assert runner.loaded and model.fp32_backend.child_exports == 1
