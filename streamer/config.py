"""Configuration is data: TOML sections map onto the stages' option dataclasses and are validated once, up front.

Every check names the key and says how to fix it; unknown keys are errors (a typo must not silently fall back to a
default). The schema is the option dataclasses themselves (see `streamer.options.opt`), so it cannot drift.
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import tomllib
import types
import typing
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .options import describe


def parse_value(text: str) -> Any:
    """A CLI `--set key=value` value: TOML syntax when it parses (numbers, true/false, lists), else a plain string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def read_toml(path: str | Path) -> dict:
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply `section.key=value` strings (CLI --set) on top of the file's data."""
    merged = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    for item in overrides:
        name, sep, text = item.partition("=")
        section, dot, key = name.strip().partition(".")
        if not sep or not dot or not section or not key:
            raise ConfigError(f"--set {item!r}: expected section.key=value, e.g. --set source.fps=15")
        merged.setdefault(section, {})
        if not isinstance(merged[section], dict):
            raise ConfigError(f"--set {item!r}: [{section}] is not a section")
        merged[section][key] = parse_value(text.strip())
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
            raise ConfigError(f"{where} {key}: unknown key{_did_you_mean(key, fields)}; keys are "
                              f"{', '.join(fields)}")
        values_ok = _check(value, hints[key], fields[key][1])
        if values_ok is not None:
            raise ConfigError(f"{where} {key} = {value!r}: {values_ok}. ({fields[key][1].get('help', '')})")
    try:
        options = cls(**{k: _coerce(v, hints[k]) for k, v in values.items()})
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None
    check = getattr(options, "validate", None)
    if callable(check):
        try:
            check()
        except ValueError as exc:
            raise ConfigError(f"{where} {exc}") from None
    return options


def _check(value: Any, hint: Any, meta: dict) -> str | None:
    """None when `value` fits the field, else what is wrong (the caller adds the key)."""
    expected = _type_error(value, hint)
    if expected:
        return expected
    choices = meta.get("choices")
    if choices and value not in choices:
        return f"must be one of {', '.join(map(repr, choices))}"
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
    if origin in (list, tuple):
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


def to_toml(sections: dict[str, Any]) -> str:
    """The effective configuration, with each key's help, as TOML (for `depth-streamer config show`)."""
    lines = []
    for name, options in sections.items():
        lines.append(f"[{name}]")
        for field in dataclasses.fields(options):
            meta = field.metadata
            unit = f" [{meta['unit']}]" if meta.get("unit") else ""
            lines.append(f"# {meta.get('help', '')}{unit}")
            lines.append(f"{field.name} = {_toml_value(getattr(options, field.name))}")
        lines.append("")
    return "\n".join(lines)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return repr(v)
