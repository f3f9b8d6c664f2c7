"""Options are plain frozen dataclasses; each field declares its default, unit, bounds and help text here, once.

`streamer.config` builds the TOML schema from these declarations (unknown keys, types and bounds are checked
there, before anything starts), so a stage's options live next to the stage that uses them.
"""
from __future__ import annotations

import dataclasses
from typing import Any


def opt(default: Any, help: str, *, unit: str | None = None, min: float | None = None,
        max: float | None = None, choices: tuple | None = None) -> Any:
    """A dataclass field with the metadata the config validator reads."""
    meta = {"help": help, "unit": unit, "min": min, "max": max, "choices": choices}
    if isinstance(default, (list, dict, set)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def describe(options_cls: type) -> list[tuple[str, Any, dict]]:
    """(name, default, metadata) for each field of an options dataclass, in declaration order."""
    out = []
    for f in dataclasses.fields(options_cls):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        out.append((f.name, default, dict(f.metadata)))
    return out
