"""Frame sources: one capture thread each, the newest frame in a LatestSlot. `create_source` picks one by url."""
from __future__ import annotations

from streamer.core.frame import CapturedFrame
from streamer.core.handoff import LatestSlot
from streamer.sources.av_source import AvSource
from streamer.sources.bag import BagSource
from streamer.sources.base import Source, SourceFault, SourceStats
from streamer.sources.demo import DemoSource
from streamer.sources.options import SourceOptions, source_kind

__all__ = ["AvSource", "BagSource", "DemoSource", "Source", "SourceFault", "SourceOptions", "SourceStats",
           "create_source", "source_kind"]


def create_source(options: SourceOptions, slot: LatestSlot[CapturedFrame] | None = None, *,
                  lossless: bool = False, gated: bool = False) -> Source:
    """A not yet started source for `options.url`: 'demo' -> DemoSource, bag:// -> BagSource; webcams, network
    streams, files -> AvSource. `lossless` and `gated`: see `Source`."""
    kind = {"demo": DemoSource, "bag": BagSource}.get(source_kind(options.url), AvSource)
    return kind(options, slot, lossless=lossless, gated=gated)
