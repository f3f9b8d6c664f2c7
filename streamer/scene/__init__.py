"""The scene renderer: rooms and objects ray-cast for a camera model at a pose, with their exact z-depth.

The demo source (`sources/demo_scene.py`: one fixed room, moving objects) and `dataset demo` (`train/synth.py`:
random rooms, poses and textures) both render with it. Imports only geometry/ (the camera model).
"""
from __future__ import annotations

from streamer.scene.raycast import AMBIENT, LIGHT_POS, Pose, Room, SceneObject, View, draw_object, lambert, room_hits

__all__ = ["AMBIENT", "LIGHT_POS", "Pose", "Room", "SceneObject", "View", "draw_object", "lambert", "room_hits"]
