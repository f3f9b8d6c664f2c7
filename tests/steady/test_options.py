"""Options: every field is documented and its default is valid; cross-field rules name the keys."""
from __future__ import annotations

import pytest

from streamer.config.options import describe
from streamer.render.colorize import ColorOptions
from streamer.render.views import ViewOptions
from streamer.steady import SteadyOptions


@pytest.mark.parametrize("cls", [SteadyOptions, ColorOptions, ViewOptions])
def test_fields_are_documented_and_defaults_valid(cls: type) -> None:
    fields = describe(cls)
    assert fields
    for name, default, meta in fields:
        assert meta["help"], name
        if meta["min"] is not None:
            assert default >= meta["min"], name
        if meta["max"] is not None:
            assert default <= meta["max"], name
        if meta["choices"] is not None:
            assert default in meta["choices"], name


def test_range_percentiles_must_be_ordered() -> None:
    with pytest.raises(ValueError, match="range_low_pct"):
        SteadyOptions(range_low_pct=50.0, range_high_pct=50.0)
