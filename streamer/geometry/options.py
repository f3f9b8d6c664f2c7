"""`[camera]`: the source camera's intrinsics and distortion, or its field of view, and its mount on the robot.

Zero (or a negative principal point) means "not given": a source that knows its own camera (the demo scene) fills
in what is missing, and anything else stays unknown (no point clouds, no ground fit) rather than guessed.
`depth-streamer calibrate` prints a block for this section.
"""
from __future__ import annotations

from dataclasses import dataclass

from streamer.config.options import opt
from streamer.geometry.camera import CameraModel, Mount


@dataclass(frozen=True)
class CameraOptions:
    fx: float = opt(0.0, "focal length along x at width x height (0 = not given: use hfov_deg or the source's own "
                         "model)", unit="px", min=0.0, max=1e5)
    fy: float = opt(0.0, "focal length along y (0 = same as fx)", unit="px", min=0.0, max=1e5)
    cx: float = opt(-1.0, "principal point x, pixel centres at integers (negative = the image centre)", unit="px",
                    min=-1.0, max=1e5)
    cy: float = opt(-1.0, "principal point y (negative = the image centre)", unit="px", min=-1.0, max=1e5)
    width: int = opt(0, "image width the intrinsics were measured at; every other resolution is scaled from it "
                        "(0 = the source's frame width)", unit="px", min=0, max=16384)
    height: int = opt(0, "image height the intrinsics were measured at (0 = the source's frame height)", unit="px",
                      min=0, max=16384)
    hfov_deg: float = opt(0.0, "horizontal field of view, when nothing better is known (instead of fx/fy/cx/cy; "
                               "0 = not given)", unit="deg", min=0.0, max=179.0)
    k1: float = opt(0.0, "OpenCV radial distortion k1", min=-100.0, max=100.0)
    k2: float = opt(0.0, "OpenCV radial distortion k2", min=-100.0, max=100.0)
    p1: float = opt(0.0, "OpenCV tangential distortion p1", min=-1.0, max=1.0)
    p2: float = opt(0.0, "OpenCV tangential distortion p2", min=-1.0, max=1.0)
    k3: float = opt(0.0, "OpenCV radial distortion k3", min=-100.0, max=100.0)
    height_m: float = opt(0.0, "mount: height of the camera above the floor (0 = not given; the ground fit needs "
                               "it)", unit="m", min=0.0, max=100.0)
    pitch_deg: float = opt(0.0, "mount: nose-down tilt of the camera (negative = looking up)", unit="deg",
                           min=-90.0, max=90.0)
    roll_deg: float = opt(0.0, "mount: rotation about the optical axis, right side down positive", unit="deg",
                          min=-180.0, max=180.0)

    @property
    def has_intrinsics(self) -> bool:
        return self.fx > 0 or self.hfov_deg > 0

    @property
    def has_distortion(self) -> bool:
        return any((self.k1, self.k2, self.p1, self.p2, self.k3))

    def validate(self) -> None:
        """Rules that span keys; the first broken one names its key (the loader adds the section)."""
        if (self.width == 0) != (self.height == 0):
            raise ValueError(f"{'height' if self.height == 0 else 'width'}: give width and height together "
                             "(the image size the intrinsics describe), or neither")
        if self.fx > 0 and self.hfov_deg > 0:
            raise ValueError("hfov_deg: give either fx (with fy, cx, cy) or hfov_deg, not both")
        if self.fx == 0:
            for key in ("fy", "cx", "cy"):
                if getattr(self, key) != CameraOptions.__dataclass_fields__[key].default:
                    raise ValueError(f"{key} = {getattr(self, key)}: set fx too (fx = 0 means no intrinsics)")
        if self.has_distortion and self.fx == 0:
            raise ValueError("k1/k2/p1/p2/k3: distortion needs the intrinsics it was measured with (fx, fy, cx, cy, "
                             "width, height)")
        if (self.has_distortion or self.cx >= 0 or self.cy >= 0) and self.width == 0:
            raise ValueError("width: a principal point or distortion is in the pixels of one image size; give "
                             "width and height too")
        for key, limit in (("cx", self.width), ("cy", self.height)):
            value = getattr(self, key)
            if self.width and value >= limit:
                raise ValueError(f"{key} = {value}: outside the {self.width}x{self.height} image the intrinsics "
                                 f"describe (0 <= {key} < {'width' if key == 'cx' else 'height'}); check the "
                                 "calibration, or width/height")
        if self.height_m == 0 and (self.pitch_deg or self.roll_deg):
            raise ValueError("height_m: pitch_deg/roll_deg describe a mount; give its height above the floor too")

    def model(self, width: int, height: int, default: CameraModel | None = None) -> CameraModel | None:
        """The camera model for frames of width x height: from the config when given, else `default` (a source
        that knows its camera) scaled to that size, else None (unknown)."""
        if self.fx > 0:
            w, h = (self.width, self.height) if self.width else (width, height)
            cam = CameraModel(self.fx, self.fy or self.fx, self.cx if self.cx >= 0 else (w - 1) / 2.0,
                              self.cy if self.cy >= 0 else (h - 1) / 2.0, w, h, self.k1, self.k2, self.p1, self.p2,
                              self.k3)
            return cam.scaled(width, height)
        if self.hfov_deg > 0:
            return CameraModel.from_hfov(self.hfov_deg, width, height)
        return default.scaled(width, height) if default is not None else None

    def mount(self, default: Mount | None = None) -> Mount | None:
        """The mount from the config when `height_m` is given, else `default` (the source's own), else None."""
        if self.height_m > 0:
            return Mount(self.height_m, self.pitch_deg, self.roll_deg)
        return default

    def aspect_problem(self, width: int, height: int) -> str | None:
        """Why intrinsics measured at this section's width x height cannot describe frames of width x height."""
        if not self.width or not width or not height:
            return None
        if abs(self.width / self.height - width / height) > 0.01 * (width / height):
            return (f"[camera] width x height = {self.width}x{self.height} does not have the aspect ratio of the "
                    f"source's {width}x{height} frames; intrinsics cannot be scaled across a crop")
        return None
