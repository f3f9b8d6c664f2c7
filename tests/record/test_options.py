"""[foxglove], [record] and [ros] are validated once at start like every section: errors name the key and the fix."""
from __future__ import annotations

import pytest

from streamer.config.schema import parse_set
from streamer.errors import ConfigError
from streamer.pipeline.options import load_config


def conf(*items: str) -> dict:
    return load_config(None, [parse_set(i) for i in items])


def test_defaults_are_off_and_loopback():
    c = conf()
    assert not c["foxglove"].enabled and not c["record"].enabled
    assert c["foxglove"].host == "127.0.0.1" and c["foxglove"].port == 8765
    assert (c["ros"].namespace, c["ros"].frame_id, c["ros"].parent_frame_id) == ("/camera", "camera_optical_frame",
                                                                                 "base_link")


@pytest.mark.parametrize("items, words", [
    (["foxglove.enabled=true", "foxglove.port=8080"], ["[http] port and [foxglove] port are both 8080"]),
    (["foxglove.host=not a host"], ["[foxglove] host"]),
    (["foxglove.client_backlog=1"], ["client_backlog", "at least 2"]),
    (["record.split_s=0.5"], ["[record] split_s", "at least 1.0 s"]),
    (["record.compression=lz4"], ["[record] compression", "'zstd', 'none'"]),
    (["record.depth_bits=24"], ["depth_bits", "at most 23"]),
    (["record.spit_s=5"], ["unknown key", "did you mean `split_s`"]),
    (["ros.namespace=camera"], ["[ros] namespace", "leading /"]),
    (["ros.frame_id=camera optical"], ["[ros] frame_id", "ROS frame name"]),
    (["ros.parent_frame_id=camera_optical_frame"], ["parent_frame_id", "must differ from frame_id"]),
    (["source.url=bag:///no/such/bag?topic=/x"], ["[source] url", "no such bag"]),
])
def test_bad_values_name_the_key(items, words):
    with pytest.raises(ConfigError) as err:
        conf(*items)
    for word in words:
        assert word in str(err.value), str(err.value)


def test_a_file_where_the_recordings_should_go(tmp_path):
    (tmp_path / "rec").write_text("x")
    with pytest.raises(ConfigError, match=r"\[record\] dir = .*not a folder"):
        conf(f"record.dir={tmp_path / 'rec'}")


def test_a_relative_dir_lives_in_the_state_directory(monkeypatch, tmp_path):
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path))
    assert conf("record.dir=recordings")["record"].root == tmp_path / "recordings"
    assert conf(f"record.dir={tmp_path / 'abs'}")["record"].root == tmp_path / "abs"
    monkeypatch.delenv("STATE_DIRECTORY")
    assert str(conf("record.dir=recordings")["record"].root) == "recordings"
