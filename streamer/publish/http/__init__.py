"""The HTTP preview: MJPEG stream, snapshot, page, health and stats, served by the stdlib's threaded server."""
