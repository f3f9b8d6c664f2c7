"""Several streams on one HTTP server: `/` lists them, `/s/ID/...` is stream ID's own page, MJPEG, snapshot and
/stats (the page's URLs are relative, so the one page serves every stream), and the root keeps what is the
daemon's: `/healthz` (naming degraded streams), `/stats` (every stream's block), `/metrics`, `/depth` (uploads).
Today's stream URLs at the root (`/stream.mjpg`, `/snapshot.jpg`, ...) show the first stream."""
from __future__ import annotations

import html

from streamer.publish.http.app import PreviewApp
from streamer.publish.http.upload import Answer, text

ROOT_PATHS = ("/healthz", "/stats", "/metrics", "/depth")


def route_stream(app: PreviewApp, path: str, action: str | None, command: str) -> tuple[PreviewApp, str] | Answer:
    """Which app serves `path` (and the path it sees), or the answer itself (the index, a redirect, a 404)."""
    if path.startswith("/s/"):
        sid, slash, rest = path[3:].partition("/")
        feed = app.feeds.get(sid)
        if feed is None:
            return text(404, f"no stream {sid!r}; streams: {', '.join(app.feeds)}")
        if not slash:  # the page's relative URLs need the trailing slash
            return Answer(301, b"", headers=(("Location", f"/s/{sid}/"),))
        return feed, "/" + rest
    if path == "/" and action is None and command != "POST":
        return Answer(200, index_page(app), "text/html; charset=utf-8")
    if path in ROOT_PATHS:
        return app, path
    return next(iter(app.feeds.values())), path


def index_page(app: PreviewApp) -> bytes:
    """Every stream: its live picture (a few frames a second), its page, snapshot and /stats."""
    cards = []
    for sid in app.feeds:
        s = html.escape(sid, quote=True)
        cards.append(f'<div class="card"><h2><a href="/s/{s}/">{s}</a></h2>'
                     f'<a href="/s/{s}/"><img src="/s/{s}/stream.mjpg?fps=5" alt="{s}"></a><p>'
                     f'<a href="/s/{s}/snapshot.jpg">snapshot</a> · <a href="/s/{s}/stats">stats</a></p></div>')
    return ("<!doctype html><html><head><meta charset=\"utf-8\"><title>depth-streamer</title><style>"
            "body{font-family:sans-serif;background:#111;color:#ddd;margin:1em}a{color:#8cf}"
            ".card{display:inline-block;margin:0 1em 1em 0;vertical-align:top}img{max-width:46vw}</style></head>"
            f"<body><h1>depth-streamer: {len(app.feeds)} streams</h1>{''.join(cards)}"
            "<p><a href=\"/stats\">stats</a> · <a href=\"/healthz\">health</a> · <a href=\"/metrics\">metrics</a>"
            "</p></body></html>").encode()
