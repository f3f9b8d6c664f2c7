"""Planning from the index: segments cut every segment_s of log time (never a sliver at the end), warm-ups that
start segment_s earlier, whole inputs when short or in fixed metric mode, a video's frames counted from its packets,
and the topic choice's errors listing the bag's image topics."""
from __future__ import annotations

import pytest

from streamer.batch.inputs import classify, input_sha256
from streamer.batch.options import BatchOptions
from streamer.batch.plan import END, PlanError, cuts, packet_times, plan_bag, video_ranges
from tests.batch.bags import T0, write_bag
from tests.conftest import VIDEO

S = 1_000_000_000


def test_cuts_every_step_and_leave_no_sliver():
    assert cuts(0, 10 * S, 3 * S) == [(0, 3 * S), (3 * S, 6 * S), (6 * S, END)]  # the last one 4 s, not 1 s
    assert cuts(0, 4 * S, 3 * S) == [(0, END)]  # under 1.5 steps: whole
    assert cuts(0, 100 * S, 0) == [(0, END)]  # segment_s 0: whole


def test_plan_bag_segments_with_warmup(tmp_path):
    bag = classify(write_bag(tmp_path / "b", count=30))  # 3 s at 10 fps
    units = plan_bag(bag, input_sha256(bag), "b", BatchOptions(segment_s=1.0, warmup_s=0.5), "", "off")
    assert [(u.index, u.count) for u in units] == [(0, 3), (1, 3), (2, 3)]
    assert units[0].warmup == units[0].start  # nothing before the first
    assert [u.start - u.warmup for u in units[1:]] == [S // 2, S // 2]
    assert units[-1].end == END and units[0].end == units[1].start
    assert sum(u.frames for u in units) == 30 and all(u.topic == "/camera/image_raw" for u in units)
    assert len({u.key for u in units}) == 3
    whole = plan_bag(bag, "x" * 64, "b", BatchOptions(segment_s=1.0), "", "fixed")
    assert [(u.start, u.end) for u in whole] == [(units[0].start, END)]  # fixed metric: in the seed's units


def test_topic_errors_list_the_image_topics(tmp_path):
    bag = classify(write_bag(tmp_path / "b", count=2, extra_image_topic="/rear/image"))
    with pytest.raises(PlanError, match=r"several image topics \(/camera/image_raw, /rear/image\)"):
        plan_bag(bag, "x" * 64, "b", BatchOptions(), "", "off")
    with pytest.raises(PlanError, match=r"no image topic '/front'; its image topics: /camera/image_raw, /rear"):
        plan_bag(bag, "x" * 64, "b", BatchOptions(), "/front", "off")
    assert plan_bag(bag, "x" * 64, "b", BatchOptions(), "/rear/image", "off")[0].start == T0  # the bag's start


def test_video_index_from_packets():
    keys, times = packet_times(VIDEO / "realshort.mp4")
    assert len(times) == 36 and keys[0] == times[0] == 0 and times == sorted(times) and set(keys) <= set(times)
    assert len(keys) == 2  # the demuxer's keyframe flags: frames 0 and 30


def test_video_cuts_move_on_to_keyframes_and_warm_up_from_one():
    times = [i * S // 10 for i in range(100)]  # 10 fps, 10 s
    keys = times[::8]  # a keyframe every 0.8 s
    ranges = video_ranges(keys, times, 3 * S, S)
    # cuts at 3 s and 6 s move on to the keyframes at 3.2 s and 6.4 s; each warm-up keyframe is >= 1 s earlier
    f = S // 10  # a frame
    assert ranges == [(0, 0, 32 * f), (16 * f, 32 * f, 64 * f), (48 * f, 64 * f, END)]
    assert video_ranges(keys, times, 3 * S, 0)[1][0] == 32 * S // 10  # no warm-up: the segment's own keyframe
    assert video_ranges(keys[:1], times, 3 * S, S) == [(0, 0, END)]  # one keyframe: nowhere to cut
    assert video_ranges(keys, times, 0, S) == [(0, 0, END)]  # segment_s 0: whole
