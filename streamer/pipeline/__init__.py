"""Wiring: source -> inference worker -> publishers, and the one read-only status the stages consult."""
