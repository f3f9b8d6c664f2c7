"""The preview page's colour legend and cursor readout: what a colour means, and the depth under the cursor.

GET /legend.json: the colormap's colours from far (index 0) to near (255) and five ticks with the relative value
and, while metric depth is anchored, the metres each colour stands for (1 / (scale * value + shift)).
GET /depth_at?x=&y=&view=: the newest frame's depth at a point given as fractions of the displayed picture (for
`side_by_side`, either half maps onto the same scene), with its one-sigma error in metres (`sigma`) and the
frame's verdict. Both read what the frame record already carries. The page greys the legend's metres while the
verdict is not `good`.
"""
from __future__ import annotations

import math

import numpy as np

from streamer.publish.http.app import PreviewApp
from streamer.render.colorize import LOG_GAIN, colormap_lut
from streamer.render.views import VIEWS


def _metres(value: float, anchor) -> float | None:
    inv = anchor.scale * value + anchor.shift
    return round(1.0 / inv, 3) if inv > 0 else None  # None: beyond infinity (farther than the fit can say)


def legend_info(app: PreviewApp) -> dict:
    frame = app.wait_newer(None, 0.0)
    color = app.color_options
    stops = colormap_lut(color.colormap)[::17, 0, ::-1].tolist()  # BGR -> RGB, 16 stops from far to near
    out: dict = {"colormap": color.colormap, "stops": stops, "unit": "relative", "ticks": [], "seq": None,
                 "anchor": None}
    if frame is None:
        return out
    lo, hi = (float(v) for v in frame.depth_range)
    anchor = frame.anchor if frame.anchor is not None and frame.anchor.ok else None
    out.update(seq=frame.captured.seq, unit="m" if anchor else "relative",
               anchor=frame.anchor.header() if frame.anchor is not None else None)
    for at in (0.0, 0.25, 0.5, 0.75, 1.0):
        u = math.expm1(at * math.log1p(LOG_GAIN)) / LOG_GAIN if color.log else at  # the colour index's value
        value = lo + u * (hi - lo)
        out["ticks"].append({"at": at, "relative": round(value, 6),
                             "metres": _metres(value, anchor) if anchor else None})
    return out


def depth_at(app: PreviewApp, query: dict) -> tuple[int, dict]:
    try:
        x, y = float(query.get("x", [""])[0]), float(query.get("y", [""])[0])
    except ValueError:
        return 400, {"error": "x and y must be numbers: fractions (0..1) of the picture"}
    view = query.get("view", [""])[0] or app.options.default_view  # the page without ?view shows the default
    if view not in VIEWS or not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
        return 400, {"error": f"x and y must be within 0..1 and view one of {', '.join(VIEWS)}"}
    frame = app.wait_newer(None, 0.0)
    if frame is None:
        return 503, {"error": "no frame yet"}
    if view == "side_by_side":
        x = (2.0 * x) % 1.0 if x < 1.0 else 1.0
    h, w = frame.depth.shape
    u, v = min(int(x * w), w - 1), min(int(y * h), h - 1)
    out = {"seq": frame.captured.seq, "u": u, "v": v, "relative": float(frame.depth[v, u]), "metres": None,
           "sigma": None, "verdict": frame.anchor.verdict if frame.anchor is not None else None}
    if frame.metric is not None:
        z = float(frame.metric[v, u])
        out["metres"] = round(z, 4) if np.isfinite(z) else ("beyond range" if z > 0 else None)
        if frame.sigma is not None and np.isfinite(z):  # one pixel's sigma: the map's is not computed for this
            s = frame.sigma.at(v, u)
            out["sigma"] = round(s, 4) if np.isfinite(s) else ("unbounded" if s > 0 else None)
    return 200, out
