"""NAME.camera.json beside an RGB-D pair: the camera and its mount for that image, as `[camera]` keys.

`dataset demo` writes one per image (each rendered room has its own field of view, camera height and pitch);
`eval --ground` reads it to know where the floor is. The keys and their checks are `[camera]`'s
(`geometry.options.CameraOptions`): fx, fy, cx, cy, width, height (or hfov_deg), height_m, pitch_deg, roll_deg.
"""
from __future__ import annotations

from pathlib import Path

from streamer.config.schema import build_options
from streamer.core import jsonlimit
from streamer.errors import ConfigError
from streamer.geometry import CameraModel, CameraOptions, Mount

SUFFIX = ".camera.json"


def camera_dict(camera: CameraModel, mount: Mount) -> dict:
    return {"fx": camera.fx, "fy": camera.fy, "cx": camera.cx, "cy": camera.cy, "width": camera.width,
            "height": camera.height, "height_m": mount.height_m, "pitch_deg": mount.pitch_deg,
            "roll_deg": mount.roll_deg}


def read_camera(path: Path) -> CameraOptions:
    """The file as `[camera]` options; ConfigError naming the file and the key that is wrong."""
    try:
        data = jsonlimit.load(path, what=str(path), max_bytes=1 << 20)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected an object of [camera] keys (fx, fy, cx, cy, width, height, height_m, "
                          "pitch_deg, roll_deg)")
    return build_options(CameraOptions, data, str(path))


def image_camera(root: Path, name: str, width: int, height: int,
                 fallback: CameraOptions) -> tuple[CameraModel, Mount]:
    """The camera (at width x height) and mount of image NAME: from NAME.camera.json beside it, else `fallback`
    ([camera] from --config, for a fixed rig); ConfigError naming the image when neither says."""
    path = root / f"{name}{SUFFIX}"
    options = read_camera(path) if path.is_file() else fallback
    camera, mount = options.model(width, height), options.mount()
    if camera is None or mount is None:
        raise ConfigError(f"--ground: {name}: no {name}{SUFFIX} beside it and no [camera] intrinsics and height_m "
                          "in --config: the floor's place is unknown")
    return camera, mount
