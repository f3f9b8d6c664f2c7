"""The int8 files kept per fp32 export: bounded, least recently used removed first, the one in use never."""
from __future__ import annotations

import os

from streamer.model.precision.quantize import prune_int8, touch


def test_int8_files_are_capped_least_recently_used_first(tmp_path):
    fp32 = tmp_path / "midas_small_192x256_abc.onnx"
    fp32.write_bytes(b"fp32")
    other = tmp_path / "midas_small_96x128_def.int8_0.onnx"  # another export's: not this one's to prune
    other.write_bytes(b"x")
    files = []
    for i in range(6):
        f = tmp_path / f"{fp32.stem}.int8_{i}.onnx"
        f.write_bytes(b"int8")
        f.with_suffix(".json").write_text("{}")
        os.utime(f, (1000 + i, 1000 + i))
        files.append(f)
    touch(files[0])  # the oldest, used just now (a cache hit): kept
    removed = prune_int8(fp32, keep=files[1], max_files=3)  # files[1]: the one just made, kept whatever its age
    assert sorted(removed) == sorted(files[2:5])
    assert all(not f.exists() and not f.with_suffix(".json").exists() for f in removed)
    assert files[0].exists() and files[1].exists() and files[5].exists() and other.exists() and fp32.exists()
    assert prune_int8(fp32, keep=files[1], max_files=3) == []  # at the cap: nothing more
