"""SIGHUP re-reads the --config file: a valid change takes effect in the running process (camera id in the headers,
colormap in the images); an invalid file is refused, logged, and the running configuration keeps streaming."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np

from streamer.client.subscriber import DepthSubscriber

from .harness import DaemonProcess, decode_jpeg

RELOAD_TIMEOUT_S = 20.0


def write_config(path: Path, text: str) -> None:
    """Atomically, as an editor or config management would: SIGHUP never reads half a file."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def config(colormap: str, camera_id: str) -> str:
    return f'[color]\ncolormap = "{colormap}"\n\n[zmq]\ncamera_id = "{camera_id}"\n\n[source]\nloop = true\n'


def wait_camera(daemon: DaemonProcess, camera_id: str, timeout: float = RELOAD_TIMEOUT_S) -> int:
    """Subscribe afresh and wait for a depth frame from `camera_id`; its seq."""
    deadline = time.monotonic() + timeout
    with DepthSubscriber(daemon.zmq_endpoint, topics=("depth",)) as sub:
        while True:
            assert daemon.alive(), daemon.log
            assert time.monotonic() < deadline, f"no depth frame from camera {camera_id!r}:\n{daemon.log}"
            msg = sub.recv(timeout=0.5)
            if msg is not None and msg[1]["camera"] == camera_id:
                return msg[1]["seq"]


def color_spread(daemon: DaemonProcess) -> float:
    """Mean difference between the color channels of a depth snapshot: about 0 for a gray colormap."""
    status, _, body = daemon.http("/snapshot.jpg?view=depth")
    assert status == 200
    image = decode_jpeg(body).astype(np.int16)
    return float(np.abs(image[..., 0] - image[..., 1]).mean() + np.abs(image[..., 1] - image[..., 2]).mean())


def test_sighup_applies_a_valid_config_and_refuses_an_invalid_one(spawn, tmp_path, capsys):
    path = tmp_path / "cam.toml"
    write_config(path, config("inferno", "before"))
    daemon = spawn("--config", str(path))
    daemon.wait_healthy()
    wait_camera(daemon, "before")
    inferno = color_spread(daemon)
    assert inferno > 20, f"inferno should be colorful, channel spread {inferno:.1f}"

    write_config(path, config("gray", "after"))
    mark = daemon.log_lines
    daemon.send(signal.SIGHUP)
    daemon.wait_log(r"configuration reloaded from", RELOAD_TIMEOUT_S, after=mark)
    applied = wait_camera(daemon, "after")
    daemon.wait_healthy(RELOAD_TIMEOUT_S)
    gray = color_spread(daemon)
    assert gray < 3, f"gray colormap not applied, channel spread {gray:.1f}"

    write_config(path, '[color]\ncolormap = "sepia"\n')  # not a colormap: the reload must be refused
    mark = daemon.log_lines
    daemon.send(signal.SIGHUP)
    line = daemon.wait_log(r"reload refused", RELOAD_TIMEOUT_S, after=mark)
    assert "colormap" in line and "sepia" in line
    frames0 = daemon.frames_out()
    seq = wait_camera(daemon, "after")  # the old configuration, still streaming
    daemon.wait_for(lambda: daemon.frames_out() >= frames0 + 10, 10.0, "frames after the refused reload")
    assert color_spread(daemon) < 3 and daemon.alive()
    assert seq > applied, (applied, seq)  # the refused reload kept the running pipeline: its count goes on
    assert daemon.http("/healthz")[0] == 200
    with capsys.disabled():
        print(f"\n[reload] snapshot channel spread: inferno {inferno:.1f}, gray {gray:.1f}")


def test_sighup_keeps_mjpeg_viewers_and_uploads_in_flight(spawn, tmp_path):
    """A reload used to cut every MJPEG viewer and drop an upload in flight (curl rc 52). With the listener
    unchanged, the same connections carry on: the viewer's next parts come in the new colormap, and the upload
    whose body was half sent at the SIGHUP is answered 200."""
    import http.client
    import socket

    from tests.conftest import IMAGES

    from .harness import MjpegReader

    path = tmp_path / "cam.toml"
    write_config(path, config("inferno", "before"))
    daemon = spawn("--config", str(path))
    daemon.wait_healthy()
    photo = IMAGES["gradient_640x480"].read_bytes()
    # A first upload makes the uploads' one ONNX export (a minute on a loaded box), outside the reload's window.
    from .test_upload_live import post_photo

    assert post_photo(daemon.http_port, photo, timeout=600)[0] == 200
    viewer = MjpegReader(daemon.http_port, "/stream.mjpg?view=depth")
    upload = socket.create_connection(("127.0.0.1", daemon.http_port), timeout=120)
    try:
        viewer.part()
        upload.sendall(f"POST /depth?format=npy HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\n"
                       f"Content-Length: {len(photo)}\r\n\r\n".encode() + photo[: len(photo) // 2])
        write_config(path, config("gray", "after"))
        mark = daemon.log_lines
        daemon.send(signal.SIGHUP)
        daemon.wait_log(r"configuration reloaded from", RELOAD_TIMEOUT_S, after=mark)
        upload.sendall(photo[len(photo) // 2:])  # the rest of the body, after the reload
        response = http.client.HTTPResponse(upload)
        response.begin()
        assert response.status == 200, (response.status, response.read()[:200])
        assert response.getheader("X-Network-Size") and len(response.read()) > 0
        deadline = time.monotonic() + RELOAD_TIMEOUT_S
        spread = 255.0
        while spread >= 3:  # the same viewer connection, now showing the new pipeline's gray depth
            assert time.monotonic() < deadline, f"the viewer never saw a gray frame:\n{daemon.log}"
            image = decode_jpeg(viewer.part()[1]).astype(np.int16)
            spread = float(np.abs(image[..., 0] - image[..., 1]).mean() + np.abs(image[..., 1] - image[..., 2]).mean())
        assert "http: serving on" not in "\n".join(daemon.lines(mark))  # the listener was never reopened
    finally:
        viewer.close()
        upload.close()


def test_a_stop_signal_interrupts_a_reloads_export(spawn, tmp_path):
    """A reload that changes [model] may export the network again; SIGTERM then stops the daemon at once, as during
    a cold start, and the export child goes with it."""
    from .test_cold_start import STOP_LIMIT_S, export_children, gone, wait_until

    path = tmp_path / "cam.toml"
    write_config(path, config("inferno", "cam") + "\n[model]\nnet_size = 256\n")
    daemon = spawn("--config", str(path))
    daemon.wait_healthy()
    write_config(path, config("inferno", "cam") + "\n[model]\nnet_size = 352\n")  # a size never exported here
    mark = daemon.log_lines
    daemon.send(signal.SIGHUP)
    daemon.wait_log(r"exporting the network to ONNX", RELOAD_TIMEOUT_S * 3, after=mark)
    children = wait_until(lambda: export_children(daemon.pid), 30, "the reload's export child")
    t0 = time.monotonic()
    rc = daemon.stop(signal.SIGTERM, timeout=30.0)[0]
    seconds = time.monotonic() - t0
    print(f"stop during a reload's export: exit {rc} in {seconds:.2f} s")
    assert rc == 0 and seconds <= STOP_LIMIT_S, (rc, seconds, daemon.log)
    wait_until(lambda: all(gone(pid) for pid in children), 5, "the export child to end")
