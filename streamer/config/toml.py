"""TOML in and out: reading a config file with errors that say what is wrong, and writing the effective config
back as TOML that reads in again (`run --check`)."""
from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Any

import tomli_w

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


def to_toml(sections: dict[str, Any], within: str = "") -> str:
    """The effective configuration, with each key's help, as TOML that `--config` reads back unchanged - except
    secrets: a set password or token, credentials in a URL, secret-like query values and header values are shown
    as `***` (this text gets pasted). Values are written by `tomli-w`: every control character escaped as TOML
    wants; tables (`av_options`) follow their section as `[section.key]`. `within`: the sections are an array
    element's sub-tables (`[[streams]]`), written `[within.section]`."""
    lines = []
    for name, options in sections.items():
        if not dataclasses.is_dataclass(options):
            continue  # derived from the sections (the daemon's `streams`): written by their own writer
        # The header, quoted if it ever needs to be; `within` an array's table: [streams.source] (last element's).
        lines.append(f"[{within}.{name}]" if within else tomli_w.dumps({name: {}}).strip())
        tables = []
        for field in dataclasses.fields(options):
            value = shown_value(field, getattr(options, field.name))
            if isinstance(value, dict):
                tables.append((field, value))
                continue
            lines += [_comment(field), tomli_w.dumps({field.name: value}).rstrip("\n")]
        lines.append("")
        for field, value in tables:
            table = {within: {name: {field.name: value}}} if within else {name: {field.name: value}}
            lines += [_comment(field), tomli_w.dumps(table).rstrip("\n"), ""]
    return "\n".join(lines)


def shown_value(field: dataclasses.Field, value: Any) -> Any:
    """A setting's value as `--check` shows it: secrets masked (see `streamer.core.redact`)."""
    shown = field.metadata.get("show")
    if shown is not None:
        return shown(value)
    if is_secret_key(field.name) and isinstance(value, str):
        return redact_secret(value)  # "***" when set: --check output is shown, pasted, logged
    return redact_data(value)


def _comment(field: dataclasses.Field) -> str:
    meta = field.metadata
    unit = f" [{meta['unit']}]" if meta.get("unit") else ""
    return "# " + " ".join(f"{meta.get('help', '')}{unit}".split())
