"""Everything that turns depth into pixels: colormaps, views, the shared per-frame renderer, the no-signal frame."""
