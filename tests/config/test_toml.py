"""toml.py: `run --check` output reads back as the same config (control characters escaped, header values masked),
and config files that are not UTF-8 TOML are one clear ConfigError each."""
from __future__ import annotations

import tomllib

import pytest

from streamer.config.schema import Override, parse_set
from streamer.config.toml import read_toml, to_toml
from streamer.errors import ConfigError
from streamer.pipeline.options import load_config


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


def test_check_output_escapes_control_characters_and_masks_header_values(tmp_path):
    """`\\r` and `\\u0007` in an av_options value were printed raw (tomllib: "Illegal character"); a `headers`
    value (FFmpeg's HTTP headers) was printed in clear."""
    options = {"user_agent": "cam\rbot\u0007", "headers": "Authorization: Basic QWxhZGRpbjpvcGVu\r\nX-A: b\r\n"}
    conf = load_config(None, [Override("source.av_options", options, "--set")])
    shown = tomllib.loads(to_toml(conf))["source"]["av_options"]
    assert shown == {"user_agent": "cam\rbot\u0007", "headers": "Authorization: ***\r\nX-A: ***\r\n"}
    assert "QWxhZGRpbjpvcGVu" not in to_toml(conf)
