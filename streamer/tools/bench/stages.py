"""`depth-streamer bench stages VIDEO`: CPU time per frame of every stage outside the network, one thread each,
on real frames: decode, conversion to BGR, the official preprocessing, steadying, colorizing, JPEG. What the daemon
spends besides the network is the sum (plus hand-offs and sending); `bench pipeline` gives the total per frame.
Beside them, the approximate inputs the precision stage may serve after their gate (model.preprocess): float32 and
uint8 preprocessing (after the same conversion to BGR), and decoder-scaled (the decoder's network-size RGB, normalised),
which replaces both the conversion and the preprocessing."""
from __future__ import annotations

import av
import cv2
import numpy as np

from streamer.core import timing
from streamer.core.frame import CapturedFrame, DepthFrame
from streamer.core.picture import Picture
from streamer.model.preprocess import Preprocessor, normalise_rgb
from streamer.render.renderer import FrameRenderer, encode_jpeg
from streamer.sources.av_source import scaled_rgb, to_bgr
from streamer.steady import Steadier, SteadyOptions
from streamer.tools.measure import load_1m


def _per_frame_ms(fn, items) -> tuple[list, float]:
    out, ms = timing.timed(lambda: [fn(x) for x in items])
    return out, ms / max(len(items), 1)


def _decode(video: str, frames: int) -> list:
    decoded = []
    with av.open(video) as container:
        for frame in container.decode(video=0):
            decoded.append(frame)
            if len(decoded) == frames:
                break
    return decoded


def bench_stages(video: str, frames: int = 120, net_size: int = 256) -> dict:
    cv2.setNumThreads(1)  # one core per stage, as the daemon's threads run them
    decoded, decode_ms = timing.timed(lambda: _decode(video, frames))
    ms = {"decode": decode_ms / len(decoded)}
    images, ms["to_bgr"] = _per_frame_ms(to_bgr, decoded)
    preprocess = Preprocessor(net_size)
    inputs, ms["preprocess"] = _per_frame_ms(lambda i: preprocess(i).copy(), images)
    fast = Preprocessor(net_size, exact=False)  # the alternative the precision stage may adopt (model.preprocess)
    _, alternative = _per_frame_ms(lambda i: fast(i).copy(), images)
    small = Preprocessor(net_size, mode="uint8")  # another: the official resize on the 8-bit image
    _, uint8_ms = _per_frame_ms(small, images)
    h, w = inputs[0].shape[2:]
    rgbs, scale_ms = _per_frame_ms(lambda f: scaled_rgb(f, w, h), decoded)  # what the capture thread does instead
    _, normalise_ms = _per_frame_ms(normalise_rgb, rgbs)  # ... and the worker
    # A stand-in depth with the network's size and a scene's structure (the steadier's cost does not depend on the
    # weights): the frame's luminance at network resolution, plus noise.
    rng = np.random.default_rng(0)
    raws = [cv2.resize(cv2.cvtColor(i, cv2.COLOR_BGR2GRAY), (w, h)).astype(np.float32) * 10
            + rng.normal(0, 5, (h, w)).astype(np.float32) for i in images]
    steadier = Steadier(SteadyOptions())
    results, ms["steady"] = _per_frame_ms(steadier.update, raws)
    depth = [DepthFrame(captured=CapturedFrame(k, Picture.of(images[k]), 0.0, float(k)), raw=raws[k], depth=r.depth,
                        depth_range=r.depth_range, align=r.align, infer_ms=0.0, done_mono=0.0)
             for k, r in enumerate(results)]
    renderer = FrameRenderer()
    views, ms["colorize_view"] = _per_frame_ms(lambda d: renderer.image(d, "depth"), depth)
    _, ms["jpeg"] = _per_frame_ms(lambda image: encode_jpeg(image, 80), views)
    total = sum(ms.values())
    print(f"{video}: {len(decoded)} frames {images[0].shape[1]}x{images[0].shape[0]}, network {w}x{h}; "
          f"load {load_1m()}")
    for name, value in ms.items():
        print(f"  {name:14s} {value:6.2f} ms per frame ({value / total * 100:4.1f} %)")
    print(f"  {'total':14s} {total:6.2f} ms per frame outside the network")
    print(f"  (preprocess in float32 instead: {alternative:6.2f} ms per frame, {alternative / ms['preprocess']:.2f}x "
          f"the exact one; served only after it passes the gate)")
    print(f"  (preprocess in uint8 instead:   {uint8_ms:6.2f} ms per frame, {uint8_ms / ms['preprocess']:.2f}x "
          f"the exact one; served only after it passes the gate)")
    scaled, exact_path = scale_ms + normalise_ms, ms["to_bgr"] + ms["preprocess"]
    print(f"  (decoder-scaled instead of to_bgr + preprocess: {scaled:6.2f} ms per frame (scale {scale_ms:.2f} + "
          f"normalise {normalise_ms:.2f}), {scaled / exact_path:.2f}x the exact path's {exact_path:.2f}; served only "
          f"after it passes the gate; the BGR is then made only for consumers that show the camera)")
    return {**ms, "preprocess_float32": alternative, "preprocess_uint8": uint8_ms, "decoder_scaled": scaled}
