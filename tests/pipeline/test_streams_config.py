"""[[streams]]: per-stream sections deep-merged over the top-level ones, shared sections refused per stream, errors
naming the stream and the key, `--source` twice as two streams, and `run --check`'s output reading back."""
from __future__ import annotations

import pytest

from streamer.cli.run import source_overrides
from streamer.config.schema import Override
from streamer.errors import ConfigError
from streamer.pipeline.options import load_config
from streamer.pipeline.streams_config import deep_merge, effective_toml, source_streams

TWO = """
[source]
pace = false
av_options = {probesize = "32000", analyzeduration = "0"}
[steady]
ema_alpha = 0.5
[zmq]
camera_id = "ignored"

[[streams]]
id = "front"
max_fps = 15
[streams.source]
url = "demo"
demo_seed = 3
av_options = {probesize = "64000"}

[[streams]]
id = "rear"
[streams.source]
url = "demo"
[streams.steady]
ema_alpha = 0.1
"""


def write(tmp_path, text: str):
    path = tmp_path / "c.toml"
    path.write_text(text)
    return path


def test_a_config_without_streams_is_one_unnamed_stream_with_the_camera_id():
    conf = load_config(None, [Override("zmq.camera_id", "porch", "x")])
    streams = conf["streams"]
    assert not streams.named and streams.ids == ("porch",)
    only = streams.items[0]
    for section in ("source", "model", "steady", "http", "metric"):
        assert only[section] is conf[section]  # exactly today's config
    assert only["stream"].max_fps == 0


def test_stream_keys_win_over_the_top_level_ones_key_by_key(tmp_path):
    conf = load_config(write(tmp_path, TWO))
    front, rear = conf["streams"].items
    assert conf["streams"].named and conf["streams"].ids == ("front", "rear")
    assert front["source"].demo_seed == 3 and rear["source"].demo_seed == 0
    assert front["source"].pace is False and rear["source"].pace is False  # from the top level
    assert front["source"].av_options == {"probesize": "64000", "analyzeduration": "0"}  # tables merge by key
    assert rear["source"].av_options == {"probesize": "32000", "analyzeduration": "0"}
    assert front["steady"].ema_alpha == 0.5 and rear["steady"].ema_alpha == 0.1
    assert front["stream"].max_fps == 15 and rear["stream"].max_fps == 0
    assert front["model"] is rear["model"] is conf["model"]  # shared


def test_deep_merge_leaves_its_inputs_alone():
    base, own = {"a": {"x": 1, "y": 2}, "b": 1}, {"a": {"y": 3}}
    assert deep_merge(base, own) == {"a": {"x": 1, "y": 3}, "b": 1}
    assert base == {"a": {"x": 1, "y": 2}, "b": 1} and own == {"a": {"y": 3}}


@pytest.mark.parametrize("table, message", [
    ('id = "rear"\n[streams.source]\nurl = ""', r"streams\[1\] \(rear\): source\.url = ''"),
    ('id = "rear"\n[streams.steady]\nema_alpha = 7', r"streams\[1\] \(rear\): steady\.ema_alpha = 7: must be at most"),
    ('id = "rear"\n[streams.source]\nulr = "demo"', r"streams\[1\] \(rear\): source\.ulr: unknown key \(did you mean"),
    ('id = "rear"\n[streams.model]\nthreads = 1', r"streams\[1\] \(rear\): \[model\] is shared by every stream"),
    ('id = "front"', r"streams\[1\] \(front\): id 'front' is already streams\[0\]'s"),
    ('id = "a b"', r"streams\[1\]: id = 'a b': every stream needs an id"),
    ('id = "rear"\nmax_fps = -1', r"streams\[1\] \(rear\): max_fps = -1: must be at least 0"),
    ('id = "rear"\nspeed = 1', r"streams\[1\] \(rear\): speed: unknown key"),
])
def test_errors_name_the_stream_and_the_key(tmp_path, table, message):
    text = f'[[streams]]\nid = "front"\n\n[[streams]]\n{table}\n'
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text))


def test_two_streams_anchors_on_one_port_clash(tmp_path):
    text = ('[metric]\nmode = "points"\nanchors_endpoint = "tcp://127.0.0.1:5599"\n'
            '[[streams]]\nid = "a"\n[[streams]]\nid = "b"\n')
    with pytest.raises(ConfigError, match=r"streams\[1\] \(b\): \[metric\] anchors_endpoint"):
        load_config(write(tmp_path, text))


def test_source_twice_gives_streams_cam0_cam1_or_their_own_ids():
    assert source_streams(["demo", "rtsp://h/x?a=b"]) == [{"id": "cam0", "source": {"url": "demo"}},
                                                          {"id": "cam1", "source": {"url": "rtsp://h/x?a=b"}}]
    assert source_streams(["front=demo", "/tmp/a=b.mp4"])[0] == {"id": "front", "source": {"url": "demo"}}
    assert source_streams(["front=demo", "/tmp/a=b.mp4"])[1]["source"]["url"] == "/tmp/a=b.mp4"
    conf = load_config(None, source_overrides(["front=demo", "demo"]))
    assert conf["streams"].ids == ("front", "cam1")
    one = load_config(None, source_overrides(["demo"]))  # once: [source] url, as always
    assert not one["streams"].named and one["source"].url == "demo"


def test_check_output_reads_back_to_the_same_streams(tmp_path):
    conf = load_config(write(tmp_path, TWO))
    text = effective_toml(conf)
    assert text.count("[[streams]]") == 2 and "[streams.source.av_options]" in text
    again = load_config(write(tmp_path, text))
    assert again["streams"].ids == conf["streams"].ids
    assert again["streams"].items == conf["streams"].items  # every stream's sections, shared ones included


def test_each_stream_has_its_own_ros_names_unless_it_sets_them(tmp_path):
    conf = load_config(write(tmp_path, TWO))
    front, rear = conf["streams"].items
    assert (front["ros"].namespace, front["ros"].frame_id) == ("/front", "front_optical_frame")
    assert rear["ros"].namespace == "/rear" and rear["ros"].parent_frame_id == "base_link"
    odd = load_config(write(tmp_path, '[[streams]]\nid = "2-b"\n'))["streams"].items[0]
    assert odd["ros"].namespace == "/s_2_b"  # a ROS name
    with pytest.raises(ConfigError, match=r"streams\[1\] \(b\): ros.namespace = '/cams' is also stream a's"):
        load_config(write(tmp_path, '[ros]\nnamespace = "/cams"\n[[streams]]\nid = "a"\n[[streams]]\nid = "b"\n'))


def test_the_shipped_two_cameras_config_is_two_demo_streams_sharing_one_network():
    from tests.conftest import REPO

    conf = load_config(REPO / "configs" / "two_cameras.toml")
    front, rear = conf["streams"].items
    assert conf["streams"].ids == ("front", "rear") and front["model"] is rear["model"]
    assert (front["stream"].max_fps, rear["stream"].max_fps) == (15, 5)
    assert front["source"].url == rear["source"].url == "demo" and front["source"].demo_seed != rear["source"].demo_seed
    assert front["metric"].mode == rear["metric"].mode == "ground" and rear["color"].colormap == "turbo"
