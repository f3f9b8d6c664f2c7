"""Options are plain frozen dataclasses; each field declares its default, unit, bounds and help text here, once.

`streamer.config.schema` builds the TOML schema from these declarations (unknown keys, types, choices and bounds
are checked there, before anything starts), so a stage's options live next to the stage that uses them.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any


def opt(default: Any, help: str, *, unit: str | None = None, min: float | None = None,
        max: float | None = None, choices: tuple | None = None, show: Callable[[Any], Any] | None = None) -> Any:
    """A dataclass field with the metadata the config validator reads. `show` maps the value to what `--check`
    prints (e.g. redacting a password)."""
    meta = {"help": help, "unit": unit, "min": min, "max": max, "choices": choices, "show": show}
    if isinstance(default, (list, dict, set)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def describe(options_cls: type) -> list[tuple[str, Any, dict]]:
    """(name, default, metadata) for each field of an options dataclass, in declaration order."""
    out = []
    for f in dataclasses.fields(options_cls):
        default = f.default_factory() if callable(f.default_factory) else f.default
        out.append((f.name, default, dict(f.metadata)))
    return out


def choice_error(value: Any, choices: tuple) -> str | None:
    """None when `value` is one of `choices`, else the message every validator uses."""
    if value in choices:
        return None
    return f"must be one of {', '.join(map(repr, choices))}"


def check_choices(options: Any) -> None:
    """ValueError naming the first field whose value is not among its declared choices (for options built in code,
    which bypass the TOML validator)."""
    for f in dataclasses.fields(options):
        choices = f.metadata.get("choices")
        problem = choices and choice_error(getattr(options, f.name), choices)
        if problem:
            raise ValueError(f"{f.name} = {getattr(options, f.name)!r}: {problem}")
