"""A video's raw maps written as they come and parts joined block by block: what np.load reads equals the maps
given, the same maps give the same bytes, an interrupted writer leaves nothing, and memory does not grow with the
number of frames or parts."""
from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from streamer.errors import StreamerError
from streamer.pipeline.raw_maps import RawMapsWriter, join_raw_maps

H, W = 192, 256  # the network's map at the default size


def maps(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random((n, H, W), dtype=np.float32), np.arange(n) / 30.0 + seed


def write(path, depth: np.ndarray, pts: np.ndarray) -> None:
    with RawMapsWriter(path) as w:
        for m, t in zip(depth, pts, strict=True):
            w.add(m, float(t))


def test_what_np_load_reads_is_what_was_written_and_the_bytes_repeat(tmp_path):
    depth, pts = maps(12, 1)
    write(tmp_path / "a.npz", depth, pts)
    write(tmp_path / "b.npz", depth, pts)
    with np.load(tmp_path / "a.npz") as z:
        assert sorted(z.files) == ["depth", "pts"]
        assert z["depth"].dtype == np.float32 and np.array_equal(z["depth"], depth)
        assert z["pts"].dtype == np.float64 and np.array_equal(z["pts"], pts)
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()  # no clock in the bytes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npz", "b.npz"]  # no spill or temporary file left


def test_an_interrupted_writer_leaves_nothing(tmp_path):
    depth, pts = maps(3, 2)
    with pytest.raises(KeyboardInterrupt), RawMapsWriter(tmp_path / "x.npz") as w:
        w.add(depth[0], 0.0)
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(StreamerError, match=r"a raw map of \(10, 10\) after maps of \(192, 256\)"), \
            RawMapsWriter(tmp_path / "y.npz") as w:
        w.add(depth[0], 0.0)
        w.add(np.zeros((10, 10), np.float32), 1.0)
    assert list(tmp_path.iterdir()) == []


def test_parts_join_into_one_file_as_a_concatenation(tmp_path):
    parts = [maps(n, seed) for seed, n in enumerate((5, 1, 7))]
    paths = [tmp_path / f"p{i}.npz" for i in range(3)]
    for path, (d, t) in zip(paths, parts, strict=True):
        write(path, d, t)
    assert join_raw_maps(paths, tmp_path / "all.npz") == 13
    with np.load(tmp_path / "all.npz") as z:
        assert np.array_equal(z["depth"], np.concatenate([d for d, _ in parts]))
        assert np.array_equal(z["pts"], np.concatenate([t for _, t in parts]))
    np.savez(tmp_path / "small.npz", depth=np.zeros((2, 4, 4), np.float32), pts=np.zeros(2))
    with pytest.raises(StreamerError, match="differ in size"):
        join_raw_maps([paths[0], tmp_path / "small.npz"], tmp_path / "bad.npz")
    assert not (tmp_path / "bad.npz").exists()


def peak_mb(run) -> float:
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_frames_or_parts(tmp_path):
    frame = maps(1, 3)[0][0]

    def writer(n: int, name: str):
        def run() -> None:
            with RawMapsWriter(tmp_path / name) as w:
                for i in range(n):
                    w.add(frame, i / 30.0)
        return run

    short, long = peak_mb(writer(40, "short.npz")), peak_mb(writer(400, "long.npz"))  # 7.5 MB and 75 MB of maps
    assert long < short + 1.0, (short, long)
    parts = [tmp_path / "short.npz"] * 2
    two, eight = (peak_mb(lambda n=n: join_raw_maps(parts * n, tmp_path / "joined.npz")) for n in (1, 4))
    assert eight < two + 1.0 and eight < 20.0, (two, eight)  # 2 and 8 parts: 15 and 60 MB of maps


def test_an_unwritable_place_is_named(tmp_path):
    with pytest.raises(StreamerError, match=r"cannot write .*gone/x\.npz: No such file or directory"):
        RawMapsWriter(tmp_path / "gone" / "x.npz")
