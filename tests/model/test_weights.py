"""Weights: strict loading with clear errors, and fetch/verify against a real local HTTP server."""
from __future__ import annotations

import hashlib
import http.server
import os
import subprocess
import threading
import time

import pytest
import torch

from streamer.errors import EXIT_CONFIG, WeightsError
from streamer.model import build_network
from streamer.model import weights as W
from streamer.model.midas import MidasSmall
from tests.conftest import SEED_WEIGHTS, cli, subprocess_env


@pytest.fixture(scope="module")
def seed_state():
    return torch.load(SEED_WEIGHTS, map_location="cpu", weights_only=True)


def _save(tmp_path, obj, name="w.pt"):
    path = tmp_path / name
    torch.save(obj, path)
    return path


def test_official_layout_loads_with_and_without_batch_counters(tmp_path, seed_state):
    ref = build_network(W.read_state_dict(SEED_WEIGHTS))
    trimmed = {k: v for k, v in seed_state.items() if not k.endswith("num_batches_tracked")}
    assert len(trimmed) < len(seed_state)
    for obj in (trimmed, {"model": seed_state, "optimizer": {}}, {"state_dict": seed_state}):
        net = build_network(W.read_state_dict(_save(tmp_path, obj)))
        for (k, a), b in zip(ref.state_dict().items(), net.state_dict().values(), strict=True):
            assert torch.equal(a, b), k


def _load_error(path) -> str:
    with pytest.raises(WeightsError) as info:
        build_network(W.read_state_dict(path))
    return str(info.value)


def test_missing_key_is_named(tmp_path, seed_state):
    state = dict(seed_state)
    del state["scratch.output_conv.4.bias"]
    path = _save(tmp_path, state)
    msg = _load_error(path)
    assert str(path) in msg and "1 missing keys" in msg and "scratch.output_conv.4.bias" in msg


def test_extra_key_is_named(tmp_path, seed_state):
    msg = _load_error(_save(tmp_path, {**seed_state, "head.fc.weight": torch.zeros(3)}))
    assert "1 unexpected keys" in msg and "head.fc.weight" in msg


def test_mis_shaped_key_is_named(tmp_path, seed_state):
    msg = _load_error(_save(tmp_path, {**seed_state, "scratch.layer1_rn.weight": torch.zeros(64, 32, 1, 1)}))
    assert "shape mismatches" in msg and "scratch.layer1_rn.weight: file (64, 32, 1, 1) vs model (64, 32, 3, 3)" in msg


def test_truncated_file(tmp_path):
    path = tmp_path / "trunc.pt"
    path.write_bytes(SEED_WEIGHTS.read_bytes()[: 1 << 20])
    msg = _load_error(path)
    assert str(path) in msg and "truncated" in msg and "weights fetch" in msg


def test_not_a_torch_file(tmp_path):
    path = tmp_path / "notes.pt"
    path.write_text("hello")
    assert "not a PyTorch checkpoint" in _load_error(path)


def test_pickled_code_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"x": torch.zeros(1), "f": os.system}, path)  # weights_only=True must refuse the callable
    assert "cannot read weights file" in _load_error(path)


def test_empty_missing_and_directory_paths(tmp_path):
    assert "no weights path given" in _load_error("")
    assert "weights file not found" in _load_error(tmp_path / "nope.pt")
    assert "weights fetch" in _load_error(tmp_path / "nope.pt")
    assert "not a file" in _load_error(tmp_path)
    (tmp_path / "empty.pt").write_bytes(b"")
    assert "empty" in _load_error(tmp_path / "empty.pt")


def test_weights_path_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("DEPTH_STREAMER_CACHE", str(tmp_path / "c"))
    assert W.resolve_weights_path() == tmp_path / "c" / W.WEIGHTS_NAME
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "state"))  # systemd StateDirectory= wins for weights
    assert W.resolve_weights_path() == tmp_path / "state" / W.WEIGHTS_NAME
    assert W.resolve_weights_path(config="/cfg.pt") == tmp_path.joinpath("/cfg.pt")
    monkeypatch.setenv(W.WEIGHTS_ENV, "/env.pt")
    assert str(W.resolve_weights_path(config="/cfg.pt")) == "/env.pt"
    assert str(W.resolve_weights_path(cli="/cli.pt", config="/cfg.pt")) == "/cli.pt"
    monkeypatch.delenv("DEPTH_STREAMER_CACHE")
    monkeypatch.setenv("CACHE_DIRECTORY", str(tmp_path / "sd-cache"))
    assert W.cache_dir() == tmp_path / "sd-cache"


# --- fetch against a real HTTP server on 127.0.0.1 -------------------------------------------------------------

class _Server:
    """Serves the fixture weights; `mode` = whole | cut (declares the full length, sends half, closes)."""

    def __init__(self, payload: bytes):
        self.payload, self.mode = payload, "whole"
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Length", str(len(outer.payload)))
                self.end_headers()
                body = outer.payload if outer.mode == "whole" else outer.payload[: len(outer.payload) // 2]
                self.wfile.write(body)
                self.wfile.flush()

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/midas_v21_small_256.pt"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = _Server(SEED_WEIGHTS.read_bytes())
    yield s
    s.close()


SEED_SHA = hashlib.sha256(SEED_WEIGHTS.read_bytes()).hexdigest()


def test_fetch_verifies_and_installs_atomically(server, tmp_path):
    dest = tmp_path / "w" / "midas.pt"
    assert W.fetch(dest, url=server.url, sha256=SEED_SHA, progress=False) == dest
    assert dest.read_bytes() == SEED_WEIGHTS.read_bytes()
    assert [p.name for p in dest.parent.iterdir()] == ["midas.pt"]  # no temp file left behind


def test_fetch_with_wrong_checksum_leaves_nothing(server, tmp_path):
    dest = tmp_path / "midas.pt"
    with pytest.raises(WeightsError, match="sha256"):
        W.fetch(dest, url=server.url, progress=False)  # the official hash: the fixture does not match it
    assert list(tmp_path.iterdir()) == []


def test_interrupted_download_leaves_nothing(server, tmp_path):
    server.mode = "cut"
    dest = tmp_path / "midas.pt"
    with pytest.raises(WeightsError, match="nothing was written"):
        W.fetch(dest, url=server.url, sha256=SEED_SHA, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_offline_fetch_fails_fast_and_says_how_to_place_the_file(tmp_path):
    t0 = time.monotonic()
    proc = subprocess.run(cli("weights", "fetch", "--url", "http://127.0.0.1:9/none.pt", "--dest",
                              str(tmp_path / "m.pt")), capture_output=True, text=True, timeout=60, env=subprocess_env())
    assert time.monotonic() - t0 < 30
    assert proc.returncode == EXIT_CONFIG
    assert "cannot download" in proc.stderr and "copy it to" in proc.stderr and W.WEIGHTS_SHA256 in proc.stderr
    assert not (tmp_path / "m.pt").exists()


def test_verify_command(tmp_path):
    bad = subprocess.run(cli("weights", "verify", str(SEED_WEIGHTS)), capture_output=True, text=True, timeout=60,
                         env=subprocess_env())
    assert bad.returncode == EXIT_CONFIG and "not the official" in bad.stderr and SEED_SHA in bad.stderr
    missing = subprocess.run(cli("weights", "verify", str(tmp_path / "x.pt")), capture_output=True, text=True,
                             timeout=60, env=subprocess_env())
    assert missing.returncode == EXIT_CONFIG and "not found" in missing.stderr


def test_random_init_is_not_what_we_load():
    # Guard against a silent fallback: a fresh network differs from the loaded one.
    fresh = MidasSmall().state_dict()["scratch.layer1_rn.weight"]
    loaded = build_network(W.read_state_dict(SEED_WEIGHTS)).state_dict()["scratch.layer1_rn.weight"]
    assert not torch.equal(fresh, loaded)
