"""RecorderShare: several streams' feeds of one real Recorder writing a real bag, read back with rosbags. The recorder
runs while any feed is started, whichever stream made it; the bag's status topic and /metrics drops follow the
oldest started feed."""
from __future__ import annotations

import json
import time

from rosbags.rosbag2 import Reader

from streamer.publish.topics import RosOptions
from streamer.record.feed import RecorderShare
from streamer.record.messages import TYPESTORE
from streamer.record.options import RecordOptions
from streamer.record.recorder import Recorder
from streamer.record.splits import list_splits
from streamer.render.renderer import FrameRenderer
from tests.publish.conftest import CallableStatus, make_frame


def wait(check, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_the_recorder_outlives_the_stream_that_made_it_and_stops_with_the_last_feed(tmp_path):
    ros = {sid: RosOptions(namespace=f"/{sid}", frame_id=f"{sid}_optical_frame") for sid in ("front", "rear")}
    recorder = Recorder(RecordOptions(enabled=True, dir=str(tmp_path), split_s=600, max_fps=0), ros["front"],
                        renderer=FrameRenderer())
    share = RecorderShare(recorder)
    front, rear = share.feed(ros["front"], FrameRenderer()), share.feed(ros["rear"], FrameRenderer())
    assert (front.lane, rear.lane) == (0, 1)
    statuses = {sid: CallableStatus(stats=lambda sid=sid: {"stream": sid}) for sid in ("front", "rear")}
    front.start(statuses["front"])
    rear.start(statuses["rear"])
    assert recorder.running and share.reporter() == front.lane
    for seq in range(1, 4):
        front.publish(make_frame(seq))
        rear.publish(make_frame(seq))
    wait(lambda: recorder.sent == 6, "both streams' frames written")
    assert front.stop(5.0)  # the stream that made the recorder leaves: the recording goes on
    assert recorder.running and not front.dead() and share.reporter() == rear.lane
    assert front.dropped == 0 and rear.dropped == recorder.dropped  # counted once, by the reporting stream
    rear.publish(make_frame(4))
    wait(lambda: recorder.sent == 7, "the remaining stream's frame written")
    time.sleep(2.0)  # a status tick (every second) under the remaining stream's name
    assert rear.stop(5.0) and not recorder.running  # the last feed stopped it: the split is closed
    (split,) = list_splits(tmp_path)
    assert split.closed
    with Reader(split.path) as reader:
        counts = {c.topic: c.msgcount for c in reader.connections}
        said = [json.loads(TYPESTORE.deserialize_cdr(raw, c.msgtype).data)["stream"]
                for c, _, raw in reader.messages() if c.topic == "/depth_streamer/status"]
    assert counts["/front/depth/relative_inverse"] == 3 and counts["/rear/depth/relative_inverse"] == 4, counts
    assert said[0] == "front" and said[-1] == "rear", said  # the status of the oldest stream still recording
