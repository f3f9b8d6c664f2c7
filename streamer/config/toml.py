"""TOML in and out: reading a config file with errors that say what is wrong, and writing the effective config
back as TOML that reads in again (`run --check`)."""
from __future__ import annotations

import dataclasses
import math
import tomllib
from pathlib import Path
from typing import Any

from streamer.core.redact import is_secret_key, redact_data, redact_secret
from streamer.errors import ConfigError

BOM = "\ufeff"


def parse_value(text: str) -> Any:
    """A CLI `--set key=value` value: TOML syntax when it parses (numbers, true/false, lists), else a plain string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def read_toml(path: str | Path) -> dict:
    """The file's tables; ConfigError (exit 78) for a missing, unreadable, non-UTF-8 or malformed file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"config path {path} is a directory; give the .toml file inside it") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path} is not UTF-8 text (byte {exc.start}: {raw[exc.start:exc.start + 1]!r}); "
                          f"TOML files must be UTF-8 - re-save it as UTF-8") from None
    # A BOM is legal UTF-8 that editors on some systems add; TOML parsers reject it as "invalid statement (1,1)".
    text = text.removeprefix(BOM)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def to_toml(sections: dict[str, Any]) -> str:
    """The effective configuration, with each key's help, as TOML that `--config` reads back unchanged - except
    secrets: a set password or token, and credentials in a URL, are shown as `***` (this text gets pasted)."""
    lines = []
    for name, options in sections.items():
        lines.append(f"[{name}]")
        for field in dataclasses.fields(options):
            meta = field.metadata
            unit = f" [{meta['unit']}]" if meta.get("unit") else ""
            lines.append(f"# {meta.get('help', '')}{unit}")
            value = getattr(options, field.name)
            shown = meta.get("show")
            if shown is not None:
                value = shown(value)
            elif is_secret_key(field.name) and isinstance(value, str):
                value = redact_secret(value)  # "***" when set: --check output is shown, pasted, logged
            lines.append(f"{field.name} = {toml_value(redact_data(value))}")
        lines.append("")
    return "\n".join(lines)


def toml_value(v: Any) -> str:
    """One value in TOML syntax: strings escaped, lists as arrays, dicts as inline tables."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{toml_value(str(k))} = {toml_value(x)}" for k, x in v.items()) + "}"
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return repr(v)
