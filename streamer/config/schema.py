"""Validation: TOML sections map onto the stages' option dataclasses and are checked once, before anything starts.

Every check names the key and says how to fix it; unknown keys are errors (a typo must not silently fall back to a
default). The schema is the option dataclasses themselves (see `streamer.config.options.opt`), so it cannot drift.
Command-line values arrive as values (`Override`), never as TOML text to be parsed again.
"""
from __future__ import annotations

import difflib
import math
import types
import typing
from typing import Any, NamedTuple

from streamer.config.options import choice_error, describe
from streamer.config.toml import parse_value
from streamer.core.redact import MASK, is_secret_key, redact, redact_data
from streamer.errors import ConfigError


class Override(NamedTuple):
    """One `section.key = value` from the command line; `origin` names the flag in error messages."""

    key: str
    value: Any
    origin: str


def parse_set(item: str) -> Override:
    """`--set section.key=value`: the value in TOML syntax when it parses, else a plain string."""
    name, sep, text = item.partition("=")
    section, dot, key = name.strip().partition(".")
    if not sep or not dot or not section or not key:
        raise ConfigError(redact(f"--set {item!r}: expected section.key=value, e.g. --set source.fps=15"))
    return Override(f"{section}.{key.strip()}", parse_value(text.strip()), f"--set {item!r}")


def apply_overrides(data: dict, overrides: list[Override]) -> dict:
    """The file's tables with the command line's values on top (the file's own dicts are not modified)."""
    merged = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    for over in overrides:
        section, dot, key = over.key.partition(".")
        if not dot:  # a whole top-level value (`run --source A --source B`: the [[streams]] tables)
            merged[section] = over.value
            continue
        merged.setdefault(section, {})
        if not isinstance(merged[section], dict):
            raise ConfigError(redact(f"{over.origin}: [{section}] is not a section"))
        merged[section][key] = over.value
    return merged


def build_sections(data: dict, schema: dict[str, type], origin: str = "config") -> dict[str, Any]:
    """Validate `data` against `schema` ({section: options dataclass}) and build one options object per section."""
    unknown = [s for s in data if s not in schema]
    if unknown:
        raise ConfigError(f"{origin}: unknown section [{unknown[0]}]{_did_you_mean(unknown[0], schema)}; "
                          f"sections are {', '.join(f'[{s}]' for s in schema)}")
    built = {}
    for section, cls in schema.items():
        values = data.get(section, {})
        if not isinstance(values, dict):
            raise ConfigError(f"{origin}: `{section}` must be a table ([{section}]), got {type(values).__name__}")
        built[section] = build_options(cls, values, f"{origin}: [{section}]")
    return built


def build_options(cls: type, values: dict, where: str) -> Any:
    fields = {name: (default, meta) for name, default, meta in describe(cls)}
    hints = typing.get_type_hints(cls)
    for key, value in values.items():
        if key not in fields:
            raise ConfigError(f"{_at(where, key)}: unknown key{_did_you_mean(key, fields)}; keys are "
                              f"{', '.join(fields)}")
        values_ok = _check(value, hints[key], fields[key][1])
        if values_ok is not None:
            raise ConfigError(f"{_at(where, key)} = {shown(key, value)}: {values_ok}. "
                              f"({fields[key][1].get('help', '')})")
    try:
        options = cls(**{k: _coerce(v, hints[k]) for k, v in values.items()})
    except (TypeError, ValueError) as exc:
        raise ConfigError(redact(f"{where}: {exc}")) from None
    check = getattr(options, "validate", None)
    if callable(check):
        try:
            check()
        except ValueError as exc:
            raise ConfigError(redact(_at(where, str(exc)))) from None
    return options


def _at(where: str, rest: str) -> str:
    """`where` then `rest`: "x.toml: [source] url" or, for a stream's section ("...: source."), "...: source.url"."""
    return f"{where}{rest}" if where.endswith(".") else f"{where} {rest}"


def shown(key: str, value: Any) -> str:
    """A value as an error message shows it: secrets masked, URL credentials redacted."""
    if is_secret_key(key):
        return repr(MASK)
    return repr(redact_data(value))


def _check(value: Any, hint: Any, meta: dict) -> str | None:
    """None when `value` fits the field, else what is wrong (the caller adds the key)."""
    expected = _type_error(value, hint)
    if expected:
        return expected
    choices = meta.get("choices")
    if choices and choice_error(value, choices):
        return choice_error(value, choices)
    numbers = value if isinstance(value, (list, tuple)) else [value]
    for v in numbers:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            if isinstance(v, float) and not math.isfinite(v):
                return "must be a finite number"
            lo, hi = meta.get("min"), meta.get("max")
            unit = f" {meta['unit']}" if meta.get("unit") else ""
            if lo is not None and v < lo:
                return f"must be at least {lo}{unit}"
            if hi is not None and v > hi:
                return f"must be at most {hi}{unit}"
    return None


def _type_error(value: Any, hint: Any) -> str | None:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = [_type_error(value, h) for h in options if h is not type(None)]
        return None if any(e is None for e in errors) else errors[0]
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            return "must be a table, e.g. {name = \"value\"}"
        bad = next((k for k, v in value.items() if not isinstance(v, (str, int, float, bool))), None)
        return None if bad is None else f"every value must be a string or number ({bad!r} is not)"
    if origin in (list, tuple) or hint in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return "must be a list"
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        for item in value:
            err = _type_error(item, args[0]) if args else None
            if err:
                return f"every item {err[5:] if err.startswith('must ') else err}"
        return None
    if hint is bool:
        return None if isinstance(value, bool) else "must be true or false"
    if hint is int:
        return None if isinstance(value, int) and not isinstance(value, bool) else "must be a whole number"
    if hint is float:
        return None if isinstance(value, (int, float)) and not isinstance(value, bool) else "must be a number"
    if hint is str:
        return None if isinstance(value, str) else "must be a string (in quotes)"
    return None


def _coerce(value: Any, hint: Any) -> Any:
    if typing.get_origin(hint) is tuple and isinstance(value, list):
        return tuple(value)
    if hint is float and isinstance(value, int):
        return float(value)
    return value


def _did_you_mean(word: str, known) -> str:
    close = difflib.get_close_matches(word, list(known), n=1)
    return f" (did you mean `{close[0]}`?)" if close else ""



