#!/usr/bin/python3
"""A live RTSP camera stand-in for the fault tests: loops a video file at rtsp://127.0.0.1:PORT/cam until SIGTERM.

Runs under the SYSTEM python (Debian's python3-gi + gir1.2-gst-rtsp-server-1.0), never the venv, so a test can
kill it like a real camera. It works like this: a "player" pipeline decodes the file in real time into an appsink
and seeks back to the start at every EOS, so the camera never ends. Each RTSP client gets its own media pipeline,
appsrc -> x264enc (zerolatency, keyframe every second) -> rtph264pay, and the player pushes every decoded picture
into every live appsrc, timestamped with that media's running time; so loops and late joiners never see time run
backwards, and a new client gets a keyframe at once. One slice per picture (no sliced threads): rtph264pay's
config-interval=-1 puts SPS/PPS before every IDR *slice*, which splits a multi-slice keyframe into two access units
for FFmpeg's parser, and every picture after it decodes half green until the next keyframe.

Signals: SIGUSR1 stalls (pictures stop reaching the encoders; the RTSP/TCP connection stays open, RTCP keeps
going), SIGUSR2 resumes, SIGTERM/SIGINT exit 0. Lines on stdout, one per event, for the harness to wait on:
"READY port=N url=rtsp://127.0.0.1:N/cam", "STALLED", "RESUMED", "CLIENT", "LOOP".
"""
from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

DEFAULT_VIDEO = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures" / "video" / "cockatoo_640x480.mp4"
PREROLL_TIMEOUT_S = 10
KEYFRAME_EVERY_S = 1  # a reconnecting client waits at most this long for a decodable picture

PLAYER = ("filesrc name=file ! qtdemux ! h264parse ! avdec_h264 ! videoconvert ! video/x-raw,format=I420 ! "
          "appsink name=sink emit-signals=true sync=true max-buffers=2 drop=false")
MEDIA = ("( appsrc name=src is-live=true format=time do-timestamp=false ! queue max-size-buffers=4 leaky=downstream ! "
         "x264enc tune=zerolatency speed-preset=ultrafast sliced-threads=false threads=1 key-int-max={gop} "
         "bitrate=1500 ! video/x-h264,profile=constrained-baseline ! rtph264pay name=pay0 pt=96 config-interval=-1 )")


def say(line: str) -> None:
    print(line, flush=True)


class LoopingCamera:
    """Decodes the file in real time forever and fans every picture out to the appsrcs of the connected clients."""

    def __init__(self, video: Path, on_fatal: Callable[[str], None]) -> None:
        self.on_fatal = on_fatal  # called on the main loop with the reason when the player breaks
        self.pipeline = Gst.parse_launch(PLAYER)
        self.pipeline.get_by_name("file").set_property("location", str(video))
        self.pipeline.get_by_name("sink").connect("new-sample", self._on_sample)
        bus = self.pipeline.get_bus()
        bus.add_signal_watch()
        bus.connect("message", self._on_message)
        self.caps: Gst.Caps | None = None
        self.fps = 30.0
        self.stalled = False
        self._lock = threading.Lock()  # media-configure runs on client threads, samples on the streaming thread
        self._outputs: list[Gst.Element] = []

    def start(self) -> None:
        """Play and wait for the first decoded picture, so the caps (size, rate) are known before clients come."""
        self.pipeline.set_state(Gst.State.PLAYING)
        ok, _state, _pending = self.pipeline.get_state(PREROLL_TIMEOUT_S * Gst.SECOND)
        pad = self.pipeline.get_by_name("sink").get_static_pad("sink")
        self.caps = pad.get_current_caps()
        if ok == Gst.StateChangeReturn.FAILURE or self.caps is None:
            raise RuntimeError("player did not preroll: is the file an H.264 MP4?")
        ok, num, den = self.caps.get_structure(0).get_fraction("framerate")
        if ok and num > 0 and den > 0:
            self.fps = num / den

    def stop(self) -> None:
        self.pipeline.set_state(Gst.State.NULL)

    def attach(self, appsrc: Gst.Element) -> None:
        appsrc.set_property("caps", self.caps)
        with self._lock:
            self._outputs.append(appsrc)

    def detach(self, appsrc: Gst.Element) -> None:
        with self._lock:
            if appsrc in self._outputs:
                self._outputs.remove(appsrc)

    def _on_sample(self, sink: Gst.Element) -> Gst.FlowReturn:
        sample = sink.emit("pull-sample")
        if sample is None or self.stalled:
            return Gst.FlowReturn.OK  # stalled: keep decoding in real time, just hand nothing on
        with self._lock:
            outputs = list(self._outputs)
        for appsrc in outputs:
            clock = appsrc.get_clock()
            if clock is None:  # its media is not playing yet
                continue
            buffer = sample.get_buffer().copy_deep()  # its own picture: the decoder reuses its pool
            buffer.pts = clock.get_time() - appsrc.get_base_time()
            buffer.dts = Gst.CLOCK_TIME_NONE
            buffer.duration = int(Gst.SECOND / self.fps)
            appsrc.emit("push-buffer", buffer)
        return Gst.FlowReturn.OK

    def _on_message(self, _bus: Gst.Bus, message: Gst.Message) -> None:
        if message.type == Gst.MessageType.EOS:
            self.pipeline.seek_simple(Gst.Format.TIME, Gst.SeekFlags.FLUSH | Gst.SeekFlags.KEY_UNIT, 0)
            say("LOOP")
        elif message.type == Gst.MessageType.ERROR:
            err, debug = message.parse_error()
            self.on_fatal(f"player error: {err.message} ({debug})")


def serve(args: argparse.Namespace) -> int:
    Gst.init(None)
    loop = GLib.MainLoop()
    failure: list[str] = []

    def fatal(reason: str) -> None:
        print(reason, file=sys.stderr, flush=True)
        failure.append(reason)
        loop.quit()

    camera = LoopingCamera(args.video, fatal)
    camera.start()

    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(MEDIA.format(gop=max(1, round(camera.fps * KEYFRAME_EVERY_S))))
    factory.set_shared(False)  # one encoder per client: each starts on a keyframe, none waits on another

    def configure(_factory: GstRtspServer.RTSPMediaFactory, media: GstRtspServer.RTSPMedia) -> None:
        appsrc = media.get_element().get_by_name("src")
        camera.attach(appsrc)
        media.connect("unprepared", lambda _media: camera.detach(appsrc))
        say("CLIENT")

    factory.connect("media-configure", configure)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")  # loopback only: this is a test fixture, not a camera for the network
    server.set_service(str(args.port))  # 0 = any free port; the bound one is reported on the READY line
    server.get_mount_points().add_factory(args.path, factory)
    if not server.attach(None):
        print(f"cannot listen on 127.0.0.1:{args.port}", file=sys.stderr, flush=True)
        return 2

    def on_signal(signum: int) -> bool:
        if signum == signal.SIGUSR1:
            camera.stalled = True
            say("STALLED")
        elif signum == signal.SIGUSR2:
            camera.stalled = False
            say("RESUMED")
        else:
            loop.quit()
        return GLib.SOURCE_CONTINUE

    for signum in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, signum, on_signal, signum)

    port = server.get_bound_port()
    say(f"READY port={port} url=rtsp://127.0.0.1:{port}{args.path}")
    try:
        loop.run()
    finally:
        camera.stop()
    return 1 if failure else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0 = any free one)")
    parser.add_argument("--path", default="/cam", help="mount point of the stream")
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO, help="H.264 MP4 file to loop")
    args = parser.parse_args()
    if not args.video.is_file():
        print(f"video not found: {args.video}", file=sys.stderr, flush=True)
        return 2
    return serve(args)


if __name__ == "__main__":
    sys.exit(main())
