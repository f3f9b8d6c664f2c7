"""Command-line values merge into the config as values (never as TOML text parsed again), and config files that are
not UTF-8 TOML are one clear ConfigError each."""
from __future__ import annotations

import tomllib

import pytest

from streamer.config.schema import Override, parse_set
from streamer.config.toml import read_toml, to_toml
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


def test_check_output_reads_back_as_the_same_config(tmp_path):
    conf = load_config(None, [parse_set("source.av_options={probesize = '500000', rtsp_flags = 'prefer_tcp'}"),
                              parse_set("http.cors_origins=['https://a.example']")])
    text = to_toml(conf)
    tomllib.loads(text)  # valid TOML (a Python dict repr was not)
    path = tmp_path / "effective.toml"
    path.write_text(text)
    assert load_config(path) == conf


@pytest.mark.parametrize("content, message", [
    (b"\xff\xfe[source]\nurl = 'demo'\n", "not UTF-8"),
    (b"[source\n", "not valid TOML"),
])
def test_unreadable_config_files_are_config_errors(tmp_path, content, message):
    path = tmp_path / "c.toml"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=message):
        read_toml(path)


def test_a_directory_and_a_missing_file_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="is a directory"):
        read_toml(tmp_path)
    with pytest.raises(ConfigError, match="not found"):
        read_toml(tmp_path / "missing.toml")


def test_a_utf8_bom_is_accepted(tmp_path):
    path = tmp_path / "bom.toml"
    path.write_bytes("\ufeff[source]\nurl = 'demo'\n".encode())
    assert read_toml(path) == {"source": {"url": "demo"}}


def test_list_keys_refuse_a_bare_string():
    with pytest.raises(ConfigError, match="cors_origins.*must be a list"):
        load_config(None, [parse_set("http.cors_origins='https://x'")])


def test_check_output_escapes_control_characters_and_masks_header_values(tmp_path):
    """`\\r` and `\\u0007` in an av_options value were printed raw (tomllib: "Illegal character"); a `headers`
    value (FFmpeg's HTTP headers) was printed in clear."""
    options = {"user_agent": "cam\rbot\u0007", "headers": "Authorization: Basic QWxhZGRpbjpvcGVu\r\nX-A: b\r\n"}
    conf = load_config(None, [Override("source.av_options", options, "--set")])
    shown = tomllib.loads(to_toml(conf))["source"]["av_options"]
    assert shown == {"user_agent": "cam\rbot\u0007", "headers": "Authorization: ***\r\nX-A: ***\r\n"}
    assert "QWxhZGRpbjpvcGVu" not in to_toml(conf)
