"""The camera model (pinhole intrinsics + OpenCV distortion) and the mount (where the camera sits on the robot).

Conventions, used everywhere in depth-streamer:
  - Pixel centres sit at integer coordinates (OpenCV): the top-left pixel's centre is (0, 0).
  - The camera optical frame is REP 103's: x right, y down, z forward, metres. Depth is z-depth (along the optical
    axis), not range along the ray.
  - The base frame (the mount's parent) is REP 103's body frame: x forward, y left, z up, its origin on the floor
    straight below the camera. Positive pitch turns the camera's nose down, positive roll its right side down.
Imports no stage: the steady stage, publishers, `infer` and the recorders all read these.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

DISTORTION = ("k1", "k2", "p1", "p2", "k3")  # OpenCV's order of the five-coefficient model


@dataclass(frozen=True, slots=True)
class CameraModel:
    """Intrinsics of one image size. `scaled(w, h)` gives the model of the same camera at another resolution."""

    fx: float  # focal lengths, pixels
    fy: float
    cx: float  # principal point, pixels (pixel centres at integers)
    cy: float
    width: int  # the image size these numbers describe
    height: int
    k1: float = 0.0  # OpenCV distortion (radial k1 k2 k3, tangential p1 p2); all zero = ideal pinhole
    k2: float = 0.0
    p1: float = 0.0
    p2: float = 0.0
    k3: float = 0.0

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"camera image size must be positive, got {self.width}x{self.height}")
        if not all(math.isfinite(v) for v in (self.fx, self.fy, self.cx, self.cy, *self.distortion)):
            raise ValueError("camera intrinsics and distortion must be finite numbers")
        if self.fx <= 0 or self.fy <= 0:
            raise ValueError(f"focal lengths must be positive, got fx={self.fx}, fy={self.fy}")

    @classmethod
    def from_hfov(cls, hfov_deg: float, width: int, height: int) -> CameraModel:
        """Square pixels, principal point at the image centre, horizontal field of view `hfov_deg`."""
        if not 0.0 < hfov_deg < 180.0:
            raise ValueError(f"hfov_deg must be between 0 and 180, got {hfov_deg}")
        f = width / (2.0 * math.tan(math.radians(hfov_deg) / 2.0))
        return cls(f, f, (width - 1) / 2.0, (height - 1) / 2.0, int(width), int(height))

    @property
    def distortion(self) -> tuple[float, float, float, float, float]:
        return (self.k1, self.k2, self.p1, self.p2, self.k3)

    @property
    def distorted(self) -> bool:
        return any(self.distortion)

    @property
    def hfov_deg(self) -> float:
        return math.degrees(2.0 * math.atan2(self.width / 2.0, self.fx))

    def scaled(self, width: int, height: int) -> CameraModel:
        """The same camera seen through a resize to width x height (cv2.resize's pixel-area mapping: the image's
        outer edges stay put, so a centre c maps to (c + 0.5) * s - 0.5). Distortion is in normalised
        coordinates and does not change."""
        if (width, height) == (self.width, self.height):
            return self
        sx, sy = width / self.width, height / self.height
        return replace(self, fx=self.fx * sx, fy=self.fy * sy, cx=(self.cx + 0.5) * sx - 0.5,
                       cy=(self.cy + 0.5) * sy - 0.5, width=int(width), height=int(height))

    def matrix(self) -> np.ndarray:
        """The 3 x 3 camera matrix K."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def intrinsics(self) -> dict:
        """{fx, fy, cx, cy, width, height} (plus the distortion when there is any): what wire headers carry."""
        out: dict[str, object] = {"fx": self.fx, "fy": self.fy, "cx": self.cx, "cy": self.cy, "width": self.width,
                                  "height": self.height}
        if self.distorted:
            out["distortion"] = dict(zip(DISTORTION, self.distortion, strict=True))
        return out

    def rays(self) -> tuple[np.ndarray, np.ndarray]:
        """(x, y): each pixel's undistorted normalised coordinates (float64 height x width, read-only), so the
        pixel (u, v) at z-depth z is the point (x * z, y * z, z) in the optical frame. Cached per model."""
        return _rays(self)

    def project(self, points: np.ndarray) -> np.ndarray:
        """Optical-frame points (N x 3) -> pixel coordinates (N x 2), distortion applied."""
        p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        x, y = p[:, 0] / p[:, 2], p[:, 1] / p[:, 2]
        if self.distorted:
            x, y = _distort(self, x, y)
        return np.stack([self.fx * x + self.cx, self.fy * y + self.cy], axis=1)


def _distort(cam: CameraModel, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    k1, k2, p1, p2, k3 = cam.distortion
    r2 = x * x + y * y
    radial = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
    return (x * radial + 2.0 * p1 * x * y + p2 * (r2 + 2.0 * x * x),
            y * radial + p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * x * y)


@lru_cache(maxsize=16)
def _rays(cam: CameraModel) -> tuple[np.ndarray, np.ndarray]:
    u = (np.arange(cam.width, dtype=np.float64) - cam.cx) / cam.fx
    v = (np.arange(cam.height, dtype=np.float64) - cam.cy) / cam.fy
    x, y = np.meshgrid(u, v)
    if cam.distorted:  # invert the distortion by fixed-point iteration (OpenCV's undistortPoints, to 1e-12)
        xd, yd = x.copy(), y.copy()
        for _ in range(50):
            xx, yy = _distort(cam, x, y)
            ex, ey = xx - xd, yy - yd
            x -= ex
            y -= ey
            if max(np.abs(ex).max(), np.abs(ey).max()) < 1e-12:
                break
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


@dataclass(frozen=True, slots=True)
class Mount:
    """Where the camera sits: `height_m` above the floor, pitched `pitch_deg` nose down, rolled `roll_deg` right
    side down, relative to the base frame (REP 103: x forward, y left, z up, origin on the floor below it)."""

    height_m: float
    pitch_deg: float = 0.0
    roll_deg: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.height_m) and self.height_m > 0):
            raise ValueError(f"mount height must be a positive number of metres, got {self.height_m}")

    def body_rotation(self) -> np.ndarray:
        """Columns: the camera body's axes (x forward, y left, z up) in the base frame (Ry(pitch) @ Rx(roll))."""
        p, r = math.radians(self.pitch_deg), math.radians(self.roll_deg)
        ry = np.array([[math.cos(p), 0.0, math.sin(p)], [0.0, 1.0, 0.0], [-math.sin(p), 0.0, math.cos(p)]])
        rx = np.array([[1.0, 0.0, 0.0], [0.0, math.cos(r), -math.sin(r)], [0.0, math.sin(r), math.cos(r)]])
        return ry @ rx

    def rotation(self) -> np.ndarray:
        """R (3 x 3) taking a vector's base-frame coordinates to its optical-frame coordinates."""
        return OPTICAL_FROM_BODY @ self.body_rotation().T

    def to_optical(self, points_base: np.ndarray) -> np.ndarray:
        """Base-frame points (N x 3, metres) -> optical-frame points."""
        p = np.asarray(points_base, dtype=np.float64).reshape(-1, 3) - self.translation()
        return p @ self.rotation().T

    def to_base(self, points_optical: np.ndarray) -> np.ndarray:
        """Optical-frame points (N x 3) -> base-frame points (the inverse of `to_optical`)."""
        return np.asarray(points_optical, dtype=np.float64).reshape(-1, 3) @ self.rotation() + self.translation()

    def translation(self) -> np.ndarray:
        """The camera's position in the base frame."""
        return np.array([0.0, 0.0, self.height_m])

    def transform(self) -> tuple[tuple[float, float, float], tuple[float, float, float, float]]:
        """The base -> optical transform as TF publishes it (the child's pose in the parent): translation (x, y, z)
        and rotation quaternion (x, y, z, w) of the optical frame's axes in the base frame."""
        t = self.translation()
        return (float(t[0]), float(t[1]), float(t[2])), quaternion(self.rotation().T)

    def down(self) -> np.ndarray:
        """The unit vector pointing straight down (towards the floor), in optical-frame coordinates."""
        return self.rotation() @ np.array([0.0, 0.0, -1.0])

    def floor_inverse_depth(self, camera: CameraModel) -> np.ndarray:
        """1 / z of the floor plane at every pixel of `camera` (float64 h x w); <= 0 at and above the horizon.
        A floor point at ray (x, y, 1) * z satisfies down . (x, y, 1) z = height_m, hence affine in x and y."""
        x, y = camera.rays()
        d = self.down()
        return (d[0] * x + d[1] * y + d[2]) / self.height_m


# optical axes (x right, y down, z forward) in body coordinates (x forward, y left, z up), as rows
OPTICAL_FROM_BODY = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])


def quaternion(rotation: np.ndarray) -> tuple[float, float, float, float]:
    """(x, y, z, w) of a proper rotation matrix, w >= 0."""
    m = np.asarray(rotation, dtype=np.float64)
    tr = m[0, 0] + m[1, 1] + m[2, 2]
    if tr > 0:
        s = 2.0 * math.sqrt(tr + 1.0)
        q = ((m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, 0.25 * s)
    else:
        i = int(np.argmax(np.diag(m)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = 2.0 * math.sqrt(1.0 + m[i, i] - m[j, j] - m[k, k])
        v = [0.0, 0.0, 0.0]
        v[i] = 0.25 * s
        v[j] = (m[j, i] + m[i, j]) / s
        v[k] = (m[k, i] + m[i, k]) / s
        q = (v[0], v[1], v[2], (m[k, j] - m[j, k]) / s)
    if q[3] < 0:
        q = tuple(-c for c in q)  # type: ignore[assignment]
    return tuple(float(c) for c in q)  # type: ignore[return-value]
