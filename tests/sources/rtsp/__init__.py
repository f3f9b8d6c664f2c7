"""Real-process fault tests of AvSource against a GStreamer RTSP server that the tests kill, restart and stall."""
