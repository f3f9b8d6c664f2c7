"""A bag in, a bag out: every original message copied byte for byte (checked message by message with rosbags), the
same connections (type, definition, hash, serialization, QoS), plus the recorder's depth topics stamped with the
source images' own stamps, readable by rosbags and by mcap; a bag cut into segments stitches into one pass; and
the assembly's memory does not grow with the segments."""
from __future__ import annotations

import json

import numpy as np
import pytest
from rosbags.rosbag2 import StoragePlugin

from streamer.batch.assemble import assemble_bag
from streamer.batch.units import UnitRunner, part_folder
from streamer.config.schema import parse_set
from streamer.pipeline.options import load_config
from streamer.record.messages import MSGTYPES
from tests.batch.bags import T0, TS, write_bag
from tests.batch.conftest import TRAINED, run_batch
from tests.batch.memory import FRAME_BYTES, WIDTH, traced_peak, units_of
from tests.batch.readback import connections, depth_maps, mcap_decoded, messages
from tests.conftest import SEED_WEIGHTS

DEPTH = {"/camera/depth/relative_inverse": "relative", "/camera/depth/camera_info": "camera_info",
         "/camera/depth/image": "metric", "/camera/points": "points"}


@pytest.fixture(scope="module")
def two_bags(tmp_path_factory):
    root = tmp_path_factory.mktemp("bags")
    mcap = write_bag(root / "run_mcap", count=8)
    sqlite = write_bag(root / "run_sqlite", count=6, storage=StoragePlugin.SQLITE3, compressed=True)
    out = root / "out"
    proc = run_batch(mcap, sqlite, "--out", out, "--set", "camera.hfov_deg=60", "--set", "metric.mode=fixed",
                     "--set", "metric.scale=0.5", "--set", "metric.shift=0.1", "--points", "--workers", "2")
    assert proc.returncode == 0, proc.stderr
    return {"mcap": (mcap, out / "run_mcap.depth", 8), "sqlite": (sqlite, out / "run_sqlite.depth", 6)}, proc


@pytest.mark.parametrize("which", ["mcap", "sqlite"])
def test_original_topics_are_copied_byte_for_byte(two_bags, which):
    source, output, _ = two_bags[0][which]
    before, after = messages(source), messages(output)
    for topic, items in before.items():
        assert after[topic] == items, topic  # same log times, same serialized bytes, same order
    conns_in, conns_out = connections(source), connections(output)
    for topic, conn in conns_in.items():
        assert conns_out[topic] == conn, topic
    assert conns_out["/tf_static"][4][0].durability.name == "TRANSIENT_LOCAL"  # the latched QoS survived


@pytest.mark.parametrize("which", ["mcap", "sqlite"])
def test_depth_topics_as_the_recorder_writes_them(two_bags, which):
    source, output, count = two_bags[0][which]
    conns = connections(output)
    for topic, kind in DEPTH.items():
        assert conns[topic][0] == MSGTYPES[kind], topic
    got = messages(output)
    image_times = [t for t, _ in got["/camera/image_raw"]]
    stamps = [T0 + i * 100_000_000 for i in range(count)]
    for topic in DEPTH:
        assert [t for t, _ in got[topic]] == image_times, topic  # logged beside their source image
    assert sorted(depth_maps(output)) == stamps  # header.stamp = the image's own stamp, to the nanosecond
    metric = depth_maps(output, "/camera/depth/image")
    assert sorted(metric) == stamps and all(np.isfinite(m).any() for m in metric.values())
    info = TS.deserialize_cdr(got["/camera/depth/camera_info"][0][1], "sensor_msgs/msg/CameraInfo")
    relative = next(iter(depth_maps(output).values()))
    assert (info.height, info.width) == relative.shape and info.k[0] > 0


def test_mcap_reads_every_message(two_bags):
    for source, output, count in two_bags[0].values():
        decoded = mcap_decoded(output)
        assert len(decoded["/camera/depth/relative_inverse"]) == count
        assert decoded["/camera/depth/relative_inverse"][0].encoding == "32FC1"
        assert len(decoded["/camera/points"]) == count and decoded["/camera/points"][0].point_step == 16
        assert len(decoded["/imu/status"]) == len(messages(source)["/imu/status"])


def test_summary_and_manifest(two_bags):
    (_, output, _), proc = two_bags[0]["mcap"], two_bags[1]
    assert "run_mcap.depth" in proc.stdout and "run_sqlite.depth" in proc.stdout
    rows = [json.loads(line) for line in (output.parent / "batch.manifest.jsonl").read_text().splitlines()]
    assert sorted(r["status"] for r in rows) == ["assembled", "assembled", "done", "done"]
    done = [r for r in rows if r["status"] == "done"]
    assert sorted(r["frames"] for r in done) == [6, 8] and all(r["precision"] == "fp32" for r in done)
    assert all(len(r["sha256"]) == 64 and len(r["output_sha256"]) == 64 for r in rows)
    assert not (output.parent / ".batch").exists()  # the parts live on in the bags


def test_segments_stitch_into_one_pass(tmp_path):
    """Three segments of 2 s with 2 s of warm-up each equal one pass over the bag within 1e-3 (fp32, trained
    weights): each segment seeds its own units, and the assembly brings them into the first segment's."""
    bag = write_bag(tmp_path / "long", count=60)
    whole = run_batch(bag, "--out", tmp_path / "whole", "--segment-s", "0", weights=TRAINED)
    assert whole.returncode == 0, whole.stderr
    cut = run_batch(bag, "--out", tmp_path / "cut", "--segment-s", "2", "--warmup-s", "2", "--workers", "2",
                    weights=TRAINED)
    assert cut.returncode == 0, cut.stderr
    rows = [json.loads(line) for line in (tmp_path / "cut" / "batch.manifest.jsonl").read_text().splitlines()]
    units = sorted((r["index"], r["frames"], r["warmup_frames"]) for r in rows if r["status"] == "done")
    assert units == [(0, 20, 0), (1, 20, 20), (2, 20, 20)]
    one, stitched = depth_maps(tmp_path / "whole" / "long.depth"), depth_maps(tmp_path / "cut" / "long.depth")
    assert sorted(one) == sorted(stitched) and len(one) == 60
    errors = np.array([np.abs(one[t] - stitched[t]).max() / (one[t].max() - one[t].min()) for t in sorted(one)])
    assert errors.max() <= 1e-3, errors.round(5)
    assert errors[40:].max() > 0  # the last segment really ran on its own (its warm-up began after the first frame)


def test_assembly_memory_does_not_grow_with_the_segments(tmp_path):
    """The driver assembles a bag of 8 segments holding no more than for 2: the parts are read one after the
    other (merging them all at once held a chunk of every part from the start)."""
    conf = load_config(None, [parse_set("model.threads=1"), parse_set("batch.segment_s=1"),
                              parse_set("batch.warmup_s=0.3")])
    runner = UnitRunner(conf, str(SEED_WEIGHTS), tmp_path)

    def peak(count: int) -> tuple[int, int]:
        bag = write_bag(tmp_path / f"bag{count}", count=count, width=WIDTH)  # 10 fps: a segment a second
        units = units_of(bag, tmp_path, conf)
        assert all(runner.run(unit, lambda n: None)["status"] == "done" for unit in units)
        parts = [part_folder(tmp_path, unit) for unit in units]
        final = tmp_path / f"bag{count}.depth"
        used, _ = traced_peak(lambda: assemble_bag(bag, parts, final, "zstd", 23, conf["ros"].topic("relative")))
        assert len(depth_maps(final)) == count
        return len(parts), used

    peak(10)  # the first assembly's one-off allocations (the compressor, the type store's first messages)
    (few, short), (many, long) = peak(20), peak(80)
    assert (few, many) == (2, 8)
    assert short > FRAME_BYTES  # the measure sees frames: the one being copied at least
    assert long - short < FRAME_BYTES, (short, long)
