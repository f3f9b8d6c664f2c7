"""A video cut at keyframes into segments, each its own unit, stitched into the files one pass writes: the raw maps
equal one pass's, the video has the same frames and stamps, and after the warm-up its pictures differ from one
pass's only by the codec's own error (each segment starts a new H.264 keyframe); a re-run skips the video."""
from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from tests.batch.bags import write_video
from tests.batch.conftest import run_batch
from tests.batch.faults import manifest_rows

RATE, FRAMES, GOP = 10, 48, 8  # 4.8 s, a keyframe every 0.8 s


def decoded(path: Path) -> list[tuple[int, np.ndarray]]:
    with av.open(str(path)) as src:
        return [(f.pts, f.to_ndarray(format="rgb24").astype(np.int16)) for f in src.decode(src.streams.video[0])]


def test_segments_stitch_into_one_pass(tmp_path):
    video = write_video(tmp_path / "walk.mp4", count=FRAMES, fps=RATE, gop=GOP)
    # the steady stage's memory: 8 warm-up frames leave 0.5^8 of a range EMA, 0.1^8 would leave 43 %
    fast = ("--set", "steady.range_alpha=0.5", "--set", "steady.ema_alpha=0.5")
    one = run_batch(video, "--out", tmp_path / "one", "--raw", "--segment-s", "0", *fast)
    assert one.returncode == 0, one.stderr
    cut = ("--raw", "--segment-s", "1.6", "--warmup-s", "0.8", *fast)
    seg = run_batch(video, "--out", tmp_path / "seg", *cut)
    assert seg.returncode == 0, seg.stderr
    rows = manifest_rows(tmp_path / "seg")
    done = [r for r in rows if r["status"] == "done"]
    # cuts at 1.6 s and 3.2 s (keyframes); the warm-ups start at the keyframes 0.8 s earlier
    assert [(r["frames"], r["warmup_frames"]) for r in done] == [(16, 0), (16, 8), (16, 8)]
    assert [r["status"] for r in rows][-1] == "assembled"
    assert not (tmp_path / "seg" / ".batch").exists()  # the parts live on in the stitched files

    a, b = np.load(tmp_path / "one/walk.depth.npz"), np.load(tmp_path / "seg/walk.depth.npz")
    assert np.array_equal(a["depth"], b["depth"]) and np.array_equal(a["pts"], b["pts"])
    fa, fb = decoded(tmp_path / "one/walk.depth.mp4"), decoded(tmp_path / "seg/walk.depth.mp4")
    assert [p for p, _ in fa] == [p for p, _ in fb] and len(fa) == FRAMES
    assert all(np.array_equal(x, y) for (_, x), (_, y) in zip(fa[:16], fb[:16], strict=True))  # one encoder, one run
    # After a cut the encoders differ (a new keyframe): the pictures differ by the codec's error (about 4 levels of
    # 255 on this noisy random-weights depth), and each frame is nearer its own one-pass frame than its neighbours
    # (from the first cut on: before it the frames are equal, above, and the clip's first frames repeat each other;
    # the clip moves slowly, so a neighbour may come within twice the codec's error, never nearer than its own).
    errors = np.array([[np.abs(x - y).mean() for _, y in fb] for _, x in fa])
    assert errors.diagonal().max() < 8.0, errors.diagonal()
    near = [(i, errors[i, i - 1:i + 2].round(2)) for i in range(16, FRAMES)
            if not errors[i, i] < min(errors[i, i - 1], errors[i, (i + 1) % FRAMES])]
    assert not near, near

    again = run_batch(video, "--out", tmp_path / "seg", *cut)
    assert again.returncode == 0, again.stderr
    assert "(3 done before)" in again.stdout and len(manifest_rows(tmp_path / "seg")) == len(rows)
