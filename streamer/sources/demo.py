"""DemoSource: the built-in camera that needs no hardware, a rendered moving room with its true depth attached."""
from __future__ import annotations

from streamer.sources.base import Source
from streamer.sources.demo_scene import DemoScene, demo_camera, demo_mount
from streamer.sources.pacing import PaceClock


class DemoSource(Source):
    """Frame i shows the scene at t = i / fps and carries `truth_depth`; paced at fps unless `pace` is false."""

    kind = "demo"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.camera = demo_camera(self.options.width or 640, self.options.height or 480)  # exact: it renders with it
        self.mount = demo_mount()

    def _session(self) -> str | None:
        opts = self.options
        width, height = opts.width or 640, opts.height or 480
        fps = opts.fps or 30.0
        scene = DemoScene(width, height, fps, opts.demo_seed)  # built here, so start() returns at once
        period = 1.0 / fps
        clock = PaceClock() if opts.pace else None
        index = self._seq + 1  # frame index = seq, also if a session ever starts again
        while not self._stop.is_set():
            if clock is not None:
                wait = clock.delay(index * period)
                if wait > 0 and self._stop.wait(wait):
                    return None
            image, depth = scene.render(index)
            self._note_format(width, height, "bgr24")
            self._emit(image, pts=index * period, truth_depth=depth)
            index += 1
        return None
