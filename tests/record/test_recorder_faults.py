"""The recorder on a disk that stays full (issue 26 R2, R3, R4): real splits written with rosbags, the kernel
refusing every write (RLIMIT_FSIZE 0: files can be created, nothing written into them, as on a full disk).

No retry leaves an empty split behind, the counters count only what reached the disk, a torn split found while the
disk is still full is left for later (not set aside for good) and repaired once there is room, and a repaired split
holds no `*.repairing*` file."""
from __future__ import annotations

import contextlib
import resource
import signal
import time

import pytest

from streamer.record.options import RecordOptions
from streamer.record.recorder import Recorder
from streamer.record.splits import list_splits, recover
from streamer.render.renderer import FrameRenderer
from tests.publish.conftest import make_frame
from tests.record.test_recorder import ROS, geometry_frame, read_mcap, read_rosbags, record


@contextlib.contextmanager
def full_disk():
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, old_limit[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)


@pytest.mark.serial  # RLIMIT_FSIZE on the whole process while its writer thread races the limit
def test_retries_on_a_full_disk_leave_no_empty_splits_and_count_nothing_recorded(tmp_path):
    rec = Recorder(RecordOptions(enabled=True, dir=str(tmp_path), split_s=3600.0, max_fps=0, compression="none",
                                 retry_s=0.5), ROS, renderer=FrameRenderer())
    rec.start()
    try:
        time.sleep(0.5)  # the start-up repair has run
        with full_disk():
            deadline = time.monotonic() + 30
            i = 0
            while rec.write_errors < 4 and time.monotonic() < deadline:  # several retries, all refused
                rec.publish(make_frame(i, h=120, w=160, noise=True))
                i += 1
                time.sleep(0.05)
            counters = rec.counters()
            leftovers = sorted(p.name for p in tmp_path.iterdir())
    finally:
        assert rec.stop(10.0)
    assert counters["write_errors"] >= 4 and counters["state"] == "error", counters
    assert counters["frames_recorded"] == 0 and counters["bytes_written"] == 0, counters
    assert leftovers == [], leftovers


def test_a_torn_split_found_on_a_full_disk_is_repaired_once_there_is_room(tmp_path):
    record(tmp_path, [geometry_frame(i, h=240, w=320) for i in range(30)], fps=60, split_s=3600.0,
           max_fps=0, compression="none")
    (split,) = list_splits(tmp_path)
    (mcap_file,) = split.path.glob("*.mcap")
    data = mcap_file.read_bytes()
    mcap_file.write_bytes(data[: int(len(data) * 0.7)])  # SIGKILL mid-chunk: no summary, torn end
    (split.path / "metadata.yaml").unlink()
    with full_disk():
        lines = recover(tmp_path)
    assert len(lines) == 1 and "tried again" in lines[0], lines
    assert split.path.is_dir() and not list(tmp_path.glob("*.unreadable")) and not list(tmp_path.glob("*.repairing"))
    lines = recover(tmp_path)  # room again (the next start, or the recorder's next split)
    assert len(lines) == 1 and "repaired" in lines[0], lines
    assert sorted(p.name for p in split.path.iterdir()) == sorted(["metadata.yaml", f"{split.path.name}.mcap"])
    repaired = read_rosbags(split.path)
    assert repaired and [(t, s) for t, s, _ in read_mcap(split.path)] == [(t, s) for t, s, _ in repaired]
