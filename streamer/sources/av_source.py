"""AvSource: webcams (v4l2), RTSP/HTTP streams and video files decoded with PyAV; each frame goes out as an AvPicture.

While `decoder-scaled` preprocessing serves (the pipeline's board says so, `PipelineStatus.scaled_input`), the capture
thread makes only the network-size RGB (swscale, one pass from the camera's YUV) and the full-size BGR waits for a
consumer that needs it; otherwise it converts to full-size BGR at once, as the network's preprocessing needs it.
"""
from __future__ import annotations

import logging
import socket
import time
from urllib.parse import urlsplit

import av
import av.container
import av.error
import numpy as np

from streamer.core.frame import CapturedFrame
from streamer.core.handoff import LatestSlot
from streamer.core.picture import Picture
from streamer.core.redact import redact
from streamer.sources.base import Source, SourceBroken, SourceFault
from streamer.sources.options import SourceOptions, source_kind, webcam_device
from streamer.sources.pacing import PaceClock

log = logging.getLogger(__name__)
# swscale's filter for the network-size RGB. Measured through the trained proxy's fp32 network on 16 held-out
# 640x480 cockatoo frames, NMAE vs the exact input (ms a frame): bilinear 9.7 % (0.74), area 7.3 % (0.59), bicubic
# 6.6 % (1.12), lanczos 6.4 % (1.95). swscale widens its kernel when it shrinks (anti-aliasing) where the official
# cubic resize does not, and the network notices; bicubic is the nearest that stays well under the float32 path's cost.
SCALER = "BICUBIC"
PROBE_TIMEOUT_S = 0.5  # a TCP connect to a camera's server, while waiting to reconnect (see Source._wait_to_retry)
DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322, "http": 80, "https": 443}


class AvSource(Source):
    """One FFmpeg input, reopened after every failure. Files end (or loop); live inputs are retried forever."""

    def __init__(self, options: SourceOptions, slot: LatestSlot[CapturedFrame] | None = None, **kw: bool) -> None:
        super().__init__(options, slot, **kw)
        self.kind = source_kind(options.url)
        if self.kind == "demo":
            raise ValueError("url: 'demo' is served by DemoSource, not AvSource")
        self.target = webcam_device(options.url) if self.kind == "webcam" else options.url
        self.label = redact(self.target)
        self._server = server_address(self.target) if self.kind == "network" else None

    def _session(self) -> str | None:
        opts = self.options
        while True:
            try:
                container = self._open()
            except SourceFault as exc:
                self._give_up_on_a_file(exc)
                raise
            try:
                got = self._decode(container)
            finally:
                container.close()
            if self._stop.is_set():
                return None
            if self.kind != "file":
                raise SourceFault(f"{self.label}: stream ended (end of file from the sender)")
            if got == 0:
                self._give_up_on_a_file(SourceFault(f"{self.label}: no decodable video frames"))
                raise SourceFault(f"{self.label}: no decodable video frames")
            if not opts.loop:
                return f"{self.label}: end of file"
            log.debug("%s: looping", self.label)

    @property
    def probes_server(self) -> bool:
        return self._server is not None

    def _server_answers(self) -> bool:
        assert self._server is not None  # asked only where probes_server
        try:
            socket.create_connection(self._server, timeout=PROBE_TIMEOUT_S).close()
        except OSError:
            return False
        return True

    def _give_up_on_a_file(self, fault: SourceFault) -> None:
        """A file that never gave a frame will not give one on the next try either (zero-length, not a video, no moov
        atom): that is an error to report once, not a camera to reconnect to forever."""
        if self.kind == "file" and self.stats.frames == 0:
            raise SourceBroken(str(fault)) from fault

    def _open(self) -> av.container.InputContainer:
        opts = self.options
        fmt, av_options = input_args(self.kind, self.target, opts)
        started = time.monotonic()
        try:
            container = av.open(self.target, format=fmt, options=av_options,
                                timeout=(opts.open_timeout, opts.read_timeout))
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            reason = describe_error(exc, opts.open_timeout, time.monotonic() - started)
            raise SourceFault(f"cannot open {self.label}: {reason}") from exc
        if not container.streams.video:
            container.close()
            raise SourceFault(f"{self.label}: no video stream")
        ctx = container.streams.video[0].codec_context
        if ctx.width * ctx.height > opts.max_pixels:  # from the stream's header: refused before a frame is decoded
            container.close()
            fault = f"{self.label}: {ctx.width}x{ctx.height} video is over [source] max_pixels = {opts.max_pixels}"
            raise (SourceBroken if self.kind == "file" else SourceFault)(fault)
        return container

    def _decode(self, container: av.container.InputContainer) -> int:
        """Emit every frame of one opened input; return how many, or raise SourceFault on read errors and stalls."""
        opts = self.options
        stream = container.streams.video[0]
        period = 1.0 / float(stream.average_rate or stream.guessed_rate or 30)
        pace = opts.pace and self.kind == "file"
        clock = PaceClock() if pace else None
        t = -period
        last_progress = time.monotonic()
        got = 0
        # Demux every stream, not just the video: a read then returns for each audio/data packet too, so the stall
        # watchdog below runs even when a stream keeps sending everything but pictures.
        packets = container.demux()
        try:
            while not self._stop.is_set():
                read_at = time.monotonic()
                try:
                    packet = next(packets)
                except StopIteration:
                    break
                except av.error.FFmpegError as exc:
                    reason = describe_error(exc, opts.read_timeout, time.monotonic() - read_at)
                    raise SourceFault(f"{self.label}: read failed: {reason}") from exc
                waited = time.monotonic() - read_at
                if self.kind == "network" and waited >= 0.95 * opts.read_timeout:
                    # When a live read times out, libavformat flushes its parser and hands back the picture it was
                    # holding instead of the error. That picture is old: emitting it as new would hide the stall
                    # for another whole read_timeout. Treat the read as the timeout it was.
                    raise SourceFault(f"{self.label}: read timed out: no data for {waited:.1f} s")
                video = packet.stream.index == stream.index
                for frame in self._decode_packet(packet) if video else ():
                    if opts.pace_fps:  # stand-in for a camera of another rate: frame index, not timestamps
                        t = got / opts.pace_fps
                    else:
                        t = frame.time if frame.time is not None else t + period
                    if clock is not None:
                        wait = clock.delay(t)
                        if wait > 0 and self._stop.wait(wait):
                            return got
                    picture = AvPicture(frame, opts.max_width, opts.max_height)
                    try:
                        size = self._status.scaled_input(picture.width, picture.height) if self._status else None
                        if size is None:
                            picture.bgr()  # what the network's preprocessing takes: made here, off its thread
                        else:
                            picture.scaled_rgb(*size)  # the network's input; the BGR only if a consumer asks
                    except (av.error.FFmpegError, ValueError) as exc:
                        self.stats.decode_errors += 1
                        log.debug("%s: cannot convert a %s frame: %s", self.label, frame.format.name, exc)
                        continue
                    self._note_format(frame.width, frame.height, frame.format.name)
                    self._emit(picture, pts=frame.time)
                    got += 1
                    last_progress = time.monotonic()
                if time.monotonic() - last_progress > opts.stall_timeout:
                    raise SourceFault(f"{self.label}: no frame for {opts.stall_timeout:g} s")
        finally:
            # run the demuxer's cleanup now, while the container is still open (demux() returns a generator; av's
            # stub says Iterator)
            packets.close()  # type: ignore[attr-defined]
        return got

    def _decode_packet(self, packet: av.Packet) -> list[av.VideoFrame]:
        """The good frames of one packet; damaged packets and corrupt frames are counted and skipped."""
        try:
            frames = packet.decode()
        except (av.error.FFmpegError, ValueError) as exc:  # the next keyframe will bring the picture back
            self.stats.decode_errors += 1
            log.debug("%s: skipped an undecodable packet: %s", self.label, exc)
            return []
        if self.options.skip_corrupt:
            if packet.is_corrupt:  # the demuxer saw damage (e.g. MPEG-TS continuity errors): pictures are smeared
                self.stats.decode_errors += max(len(frames), 1)
                return []
            good = [f for f in frames if not f.is_corrupt]
            self.stats.decode_errors += len(frames) - len(good)
            return good
        return frames


def input_args(kind: str, target: str, opts: SourceOptions) -> tuple[str | None, dict[str, str]]:
    """(FFmpeg input format, input options) for av.open: v4l2 capture settings, RTSP transport, user extras."""
    fmt = None
    av_options: dict[str, str] = {}
    if kind == "webcam":
        fmt = "v4l2"
        if opts.pixel_format:
            av_options["input_format"] = opts.pixel_format
        if opts.width and opts.height:
            av_options["video_size"] = f"{opts.width}x{opts.height}"
        if opts.fps:
            av_options["framerate"] = f"{opts.fps:g}"
    elif target.lower().startswith(("rtsp://", "rtsps://")):
        av_options["rtsp_transport"] = opts.rtsp_transport
    av_options.update({str(k): str(v) for k, v in opts.av_options.items()})
    return fmt, av_options


def to_bgr(frame: av.VideoFrame, max_width: int = 0, max_height: int = 0) -> np.ndarray:
    """H x W x 3 uint8 BGR, C-contiguous, in memory no decoder will reuse; shrunk to fit max_* when they are set."""
    width, height = fit_within(frame.width, frame.height, max_width, max_height)
    shrink = (width, height) != (frame.width, frame.height)
    # One scaler thread: capture shares the CPU with the depth net, and sws threads would only fight it.
    out = frame.reformat(width=width, height=height, format="bgr24",
                         interpolation="AREA" if shrink else None, threads=1)
    image = out.to_ndarray()
    if out is frame:  # already bgr24: the array is a view of the decoder's buffer
        return np.array(image, order="C", copy=True)
    return np.ascontiguousarray(image)  # copies only when rows carry alignment padding


class AvPicture(Picture):
    """A decoded PyAV frame, converted on demand: full-size BGR (`to_bgr`, fitted to max_*), and network-size RGB
    scaled by swscale from the decoded picture in one pass. Holding the frame is safe: its buffers are reference-
    counted, so the decoder never writes into them again."""

    can_scale = True

    def __init__(self, frame: av.VideoFrame, max_width: int = 0, max_height: int = 0) -> None:
        super().__init__(*fit_within(frame.width, frame.height, max_width, max_height))
        self._frame, self._max = frame, (max_width, max_height)

    def _convert_bgr(self) -> np.ndarray:
        return to_bgr(self._frame, *self._max)

    def _convert_scaled(self, width: int, height: int) -> np.ndarray:
        return scaled_rgb(self._frame, width, height)


def scaled_rgb(frame: av.VideoFrame, width: int, height: int) -> np.ndarray:
    """height x width x 3 uint8 RGB, C-contiguous, own memory: swscale straight from the decoded picture."""
    if width <= 0 or height <= 0:
        raise ValueError(f"scaled size must be positive, got {width}x{height}")
    out = frame.reformat(width=width, height=height, format="rgb24", interpolation=SCALER, threads=1)
    image = out.to_ndarray()
    if out is frame:  # already rgb24 at that size: a view of the decoder's buffer
        return np.array(image, order="C", copy=True)
    return np.ascontiguousarray(image)


def fit_within(width: int, height: int, max_width: int, max_height: int) -> tuple[int, int]:
    """The largest size with the same aspect that fits max_width x max_height (0 = no limit); never upscales."""
    scale = 1.0
    if max_width and width > max_width:
        scale = max_width / width
    if max_height and height * scale > max_height:
        scale = max_height / height
    if scale >= 1.0:
        return width, height
    return max(1, round(width * scale)), max(1, round(height * scale))


def describe_error(exc: BaseException, timeout: float, elapsed: float) -> str:
    """A short human-readable reason for an FFmpeg or OS error that ended a call lasting `elapsed` s."""
    detail = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    if isinstance(exc, av.error.ExitError):  # our interrupt callback fired: the timeout ran out
        return f"timed out after {timeout:g} s"
    if elapsed >= timeout * 0.95:  # some demuxers (RTSP) turn the interrupt into their own error code
        return f"timed out after {timeout:g} s ({detail})"
    return detail


def server_address(url: str) -> tuple[str, int] | None:
    """(host, port) of a network stream's server, for the reconnect probe; None when the url names no host."""
    try:
        parts = urlsplit(url)
        port = parts.port or DEFAULT_PORTS.get(parts.scheme.lower())
    except ValueError:  # a port out of range or not a number: the open itself will say so
        return None
    return (parts.hostname, port) if parts.hostname and port else None
