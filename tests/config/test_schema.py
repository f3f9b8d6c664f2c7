"""schema.py: command-line values merge into the config as values (never as TOML text parsed again); a wrong type
or a bare string for a list names the key."""
from __future__ import annotations

import pytest

from streamer.config.schema import Override, parse_set
from streamer.errors import ConfigError
from streamer.pipeline.options import load_config


def test_flag_values_arrive_unchanged(tmp_path):
    odd = tmp_path / 'clip "one" \\ two.mp4'  # quotes and a backslash: TOML text would need escaping
    odd.write_bytes(b"")
    conf = load_config(None, [Override("source.url", str(odd), "--source"), Override("zmq.camera_id", "cam=1", "x"),
                              Override("http.port", 8099, "--http-port")])
    assert conf["source"].url == str(odd)
    assert conf["zmq"].camera_id == "cam=1" and conf["http"].port == 8099


def test_set_parses_toml_values_and_keeps_other_text_as_strings():
    assert parse_set("source.fps=15") == Override("source.fps", 15, "--set 'source.fps=15'")
    assert parse_set("source.loop=true").value is True
    assert parse_set("source.backoff=[1, 2]").value == [1, 2]
    assert parse_set("zmq.camera_id=porch cam").value == "porch cam"
    with pytest.raises(ConfigError, match="section.key=value"):
        parse_set("nonsense")


def test_later_overrides_win_and_a_wrong_type_names_the_key():
    conf = load_config(None, [parse_set("http.port=1000"), Override("http.port", 2000, "--http-port")])
    assert conf["http"].port == 2000
    with pytest.raises(ConfigError, match=r"\[http\] port"):
        load_config(None, [Override("http.port", "eighty", "--http-port")])


def test_list_keys_refuse_a_bare_string():
    with pytest.raises(ConfigError, match="cors_origins.*must be a list"):
        load_config(None, [parse_set("http.cors_origins='https://x'")])
