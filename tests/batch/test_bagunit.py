"""A bag unit streams: its memory does not grow with its length. The worker reads the input a chunk at a time,
keeps the frame in hand and the maps of OVERLAP frames, and writes the part bag a chunk at a time; a frame kept
anywhere else (a list of maps, a queue, the writer) would add a depth map per frame."""
from __future__ import annotations

from streamer.batch.units import UnitRunner
from streamer.config.schema import parse_set
from streamer.pipeline.options import load_config
from tests.batch.bags import write_bag
from tests.batch.memory import FRAME_BYTES, WIDTH, traced_peak, units_of
from tests.conftest import SEED_WEIGHTS


def test_a_units_memory_does_not_grow_with_its_length(tmp_path):
    conf = load_config(None, [parse_set("model.threads=1"), parse_set("batch.segment_s=0")])
    runner = UnitRunner(conf, str(SEED_WEIGHTS), tmp_path)

    def peak(count: int) -> int:
        bag = write_bag(tmp_path / f"bag{count}", count=count, width=WIDTH)
        (unit,) = units_of(bag, tmp_path, conf)
        used, row = traced_peak(lambda: runner.run(unit, lambda n: None))
        assert row["status"] == "done" and row["frames"] == count, row
        return used

    peak(5)  # the first unit's one-off allocations (lazy imports, the session's first run) are no unit's
    short, long = peak(20), peak(80)
    assert short > FRAME_BYTES  # the measure sees frames: the one in hand at least
    assert long - short < FRAME_BYTES, (short, long)  # 60 more frames, not one more frame held
