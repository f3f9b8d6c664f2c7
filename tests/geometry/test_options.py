"""[camera]: validated once at start, errors name the key; the model resolves config > source default."""
from __future__ import annotations

import pytest

from streamer.config.schema import Override
from streamer.errors import ConfigError
from streamer.geometry.camera import Mount
from streamer.geometry.options import CameraOptions
from streamer.pipeline.options import load_config
from streamer.sources.demo_scene import demo_camera


def load(**camera):
    return load_config(None, [Override(f"camera.{k}", v, f"--set camera.{k}") for k, v in camera.items()])


@pytest.mark.parametrize("camera, message", [
    ({"fx": 500.0, "cx": 700.0, "cy": 240.0, "width": 640, "height": 480}, r"\[camera\] cx = 700.0: outside the "
                                                                           r"640x480 image"),
    ({"fx": 500.0, "cy": 480.0, "width": 640, "height": 480}, r"cy = 480.0: outside"),
    ({"fy": 500.0}, r"\[camera\] fy = 500.0: set fx too"),
    ({"fx": 500.0, "hfov_deg": 60.0}, r"\[camera\] hfov_deg: give either fx"),
    ({"fx": 500.0, "width": 640}, r"\[camera\] height: give width and height together"),
    ({"k1": 0.1}, r"\[camera\] k1/k2/p1/p2/k3: distortion needs"),
    ({"fx": 500.0, "cx": 300.0}, r"\[camera\] width: a principal point"),
    ({"pitch_deg": 10.0}, r"\[camera\] height_m: pitch_deg/roll_deg describe a mount"),
    ({"fx": -5.0}, r"\[camera\] fx = -5.0: must be at least 0.0 px"),
    ({"hfov_deg": 200.0}, r"hfov_deg = 200.0: must be at most 179.0 deg"),
    ({"fx": 500.0, "width": 640, "height": 360}, r"does not have the aspect ratio of the source's 640x480"),
    ({"fxx": 500.0}, r"unknown key \(did you mean `fx`\?\)"),
])
def test_bad_camera_sections_name_the_key(camera, message) -> None:
    with pytest.raises(ConfigError, match=message):
        load(**camera)


def test_model_resolution() -> None:
    conf = load(fx=500.0, fy=510.0, cx=320.0, cy=240.0, width=640, height=480, k1=-0.1, height_m=0.3,
                pitch_deg=20.0)
    cam = conf["camera"].model(256, 192)
    assert (cam.width, cam.height) == (256, 192) and cam.fx == pytest.approx(200.0) and cam.k1 == -0.1
    assert cam.cx == pytest.approx(320.5 * 0.4 - 0.5)
    assert conf["camera"].mount(Mount(1.4, 6.0)) == Mount(0.3, 20.0, 0.0)
    default = CameraOptions()
    assert default.model(320, 240) is None and default.mount() is None  # unknown stays unknown
    assert default.model(320, 240, demo_camera(640, 480)) == demo_camera(640, 480).scaled(320, 240)
    assert default.mount(Mount(1.4, 6.0)) == Mount(1.4, 6.0)
    hfov = CameraOptions(hfov_deg=70.0).model(320, 240)
    assert hfov == demo_camera(320, 240)
    centred = CameraOptions(fx=400.0).model(640, 480)
    assert (centred.cx, centred.cy, centred.fy) == (319.5, 239.5, 400.0)


def test_anchors_endpoint_may_not_share_a_port():
    overrides = [Override("metric.mode", "points", "--set"), Override("metric.anchors_endpoint",
                                                                     "tcp://127.0.0.1:5555", "--set")]
    with pytest.raises(ConfigError, match=r"\[zmq\] port and \[metric\] anchors_endpoint are both 5555"):
        load_config(None, overrides)
    assert load_config(None, overrides[:1])["metric"].tcp_listener() == ("127.0.0.1", 5557)
