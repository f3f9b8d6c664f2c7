"""The tests' Ray cluster: two one-CPU nodes on 127.0.0.1 (streamer/tools/raycluster.py), workers importing this
checkout and sharing the session's export cache."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from streamer.tools.raycluster import local_cluster as _cluster
from tests.conftest import REPO, subprocess_env


@contextlib.contextmanager
def local_cluster(cache: Path, log_dir: Path) -> Iterator[tuple[str, dict]]:
    env = subprocess_env(PYTHONPATH=str(REPO), DEPTH_STREAMER_CACHE=str(cache))
    with _cluster(env, log_dir, (1, 1)) as (address, _groups):
        yield address, env
