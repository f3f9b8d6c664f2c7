"""Several streams, one of them in trouble from the start, on a real daemon: a camera that is down at start does not
hold the other streams (they warm the network and publish; it joins when its camera answers), and a file stream that
reached its end is `ended`, not a fault, while the other streams serve.
"""
from __future__ import annotations

import pytest

from tests.sources.rtsp.harness import RtspServer, gst_rtsp_problem

from .harness import REALSHORT, START_TIMEOUT_S, free_port

DOWN_AT_START = """
[source]
backoff = [0.5, 1.0]
[daemon]
warmup_timeout_s = 300
[foxglove]
enabled = false

[[streams]]
id = "front"
[streams.source]
url = "demo"
fps = 8
width = 320
height = 240

[[streams]]
id = "cam"
[streams.source]
url = "{rtsp}"
"""

ENDED = """
[daemon]
warmup_timeout_s = 30
[foxglove]
enabled = false

[[streams]]
id = "front"
[streams.source]
url = "demo"
fps = 8
width = 320
height = 240

[[streams]]
id = "clip"
[streams.source]
url = "{clip}"
loop = false
pace = false
"""


def frames(daemon, sid: str) -> int:
    stats = daemon.stats_or_none()
    return stats["streams"][sid]["frames_out"] if stats is not None else 0


def test_a_camera_down_at_start_does_not_hold_the_other_streams_and_joins_later(spawn, tmp_path):
    problem = gst_rtsp_problem()
    if problem:
        pytest.fail(f"needs Debian's GStreamer RTSP server for /usr/bin/python3 ({problem}); run `make setup`",
                    pytrace=False)
    server = RtspServer()
    server.port = free_port()  # where the camera will appear; nothing listens there yet
    config = tmp_path / "down.toml"
    config.write_text(DOWN_AT_START.format(rtsp=server.url))
    try:
        daemon = spawn("--config", str(config))
        # warmup_timeout_s is 300: the working stream publishing within START_TIMEOUT_S (90 s, everything from the
        # interpreter's start on) means the down camera did not hold it until the warm-up's deadline.
        daemon.wait_for(lambda: frames(daemon, "front") > 0, START_TIMEOUT_S, "the working stream's first depth")
        daemon.wait_log(r"stream cam: camera down .*the other streams start without it", 5.0)
        daemon.wait_log(r"ready: front: first depth frame published; cam: serving, camera offline", 10.0)
        code, _, body = daemon.http("/healthz")
        text = body.decode()
        assert code == 503 and text.startswith("degraded: cam (source offline") and "front" not in text, text
        cam = daemon.stats()["streams"]["cam"]
        assert cam["source"]["state"] == "offline" and cam["frames_out"] == 0, cam
        assert daemon.http("/s/front/snapshot.jpg")[0] == 200
        assert daemon.http("/s/cam/snapshot.jpg")[0] == 503  # its own no-signal frame

        server.start()  # the camera is plugged in: its stream joins, with no restart
        daemon.wait_for(lambda: frames(daemon, "cam") > 2, 60.0, "the camera's stream publishing once it answers")
        daemon.wait_for(lambda: daemon.http("/healthz")[0] == 200, 30.0, "/healthz healthy with both streams")
        before = frames(daemon, "front")
        daemon.wait_for(lambda: frames(daemon, "front") > before + 3, 30.0, "the working stream still publishing")
        assert daemon.stats()["streams"]["cam"]["source"]["reconnects"] >= 1
    finally:
        server.close()


def test_an_ended_file_stream_is_ended_not_degraded_while_the_others_serve(spawn, notify, tmp_path):
    config = tmp_path / "ended.toml"
    config.write_text(ENDED.format(clip=REALSHORT))
    daemon = spawn("--config", str(config), env={"NOTIFY_SOCKET": notify.path})
    daemon.wait_for(lambda: (s := daemon.stats_or_none()) is not None and s["ended"] == ["clip"], START_TIMEOUT_S,
                    "the file stream to end")
    # Every frame of the file, once (unpaced: lossless); the last ones leave the network after the source ended.
    daemon.wait_for(lambda: frames(daemon, "clip") >= 36, 30.0, "the file's last frames published")
    clip = daemon.stats()["streams"]["clip"]
    assert clip["source"]["state"] == "ended" and clip["frames_out"] == 36, clip
    code, _, body = daemon.http("/healthz")
    text = body.decode().strip()
    assert code == 200 and text.startswith("ok; ended: clip (") and text.endswith("end of file)"), (code, text)
    code, _, body = daemon.http("/s/clip/healthz")  # the stream's own: done, not down
    text = body.decode().strip()
    assert code == 200 and text.startswith("ended: ") and text.endswith("end of file"), (code, text)
    before = frames(daemon, "front")
    daemon.wait_for(lambda: frames(daemon, "front") > before + 3, 30.0, "the demo stream serving on")
    assert daemon.http("/healthz")[0] == 200
    daemon.wait_for(lambda: any(line.startswith("STATUS=2 streams") and "clip ended" in line
                                for line in notify.lines()), 10.0, "a STATUS= line saying the clip ended")
    assert daemon.alive()
