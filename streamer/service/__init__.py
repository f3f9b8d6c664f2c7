"""Supervision: the daemon's main loop, signals, SIGHUP reload and systemd notification."""
