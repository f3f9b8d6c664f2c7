"""The offline commands under hostile arguments and files (issue 26 O2, O8, O9, O11): the real CLI as a subprocess.

Every argument is validated before any work: each failure is one line on stderr naming the argument, a non-zero
exit, and never a traceback (a 100 000-deep JSON file, a 100000x100000 board, an infinite square, a negative seed).
"""
from __future__ import annotations

import subprocess

import pytest

from tests.conftest import IMAGES, SEED_WEIGHTS, cli, subprocess_env


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile")
    (d / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (d / "bignum.json").write_text('{"lions.jpg": [[1, 2, 1' + "0" * 400 + "]]}")
    (d / "clip.mp4").write_bytes(b"not read: the arguments are refused first")
    data = d / "data"
    data.mkdir()
    return d


CASES = [
    ("O2 nested anchors file", ["infer", str(IMAGES["lions"]), "--anchors", "{d}/deep.json"], "nested 100000 deep"),
    ("O2 400-digit number", ["infer", str(IMAGES["lions"]), "--anchors", "{d}/bignum.json"], "401 digits"),
    ("O8 huge board", ["calibrate", "{d}/clip.mp4", "--board", "100000x100000", "--square", "0.025"], "--board"),
    ("O9 infinite square", ["calibrate", "{d}/clip.mp4", "--board", "9x6", "--square", "inf"], "--square"),
    ("O9 nan square", ["calibrate", "{d}/clip.mp4", "--board", "9x6", "--square", "nan"], "--square"),
    ("O11 negative seed", ["eval", "{d}/data", "--anchors", "4", "--seed", "-1"], "--seed"),
    ("eval nan depth scale", ["eval", "{d}/data", "--depth-scale", "nan"], "--depth-scale"),
    ("eval inf max depth", ["eval", "{d}/data", "--max-depth", "inf"], "--max-depth"),
    ("eval negative threads", ["eval", "{d}/data", "--threads", "-3"], "--threads"),
    ("dataset negative seed", ["dataset", "demo", "{d}/out", "--count", "1", "--seed", "-5"], "--seed"),
    ("train negative seed", ["train", "{d}/data", "--out", "{d}/m.pt", "--seed", "-1"], "seed"),
    ("not a number", ["calibrate", "{d}/clip.mp4", "--board", "9x6", "--square", "abc"], "--square"),
    ("run port out of range", ["run", "--http-port", "70000"], "--http-port"),
    ("bench zero runs", ["bench", "model", "--runs", "0"], "--runs"),
    ("quantize correlation over 1", ["quantize", "--min-corr", "2"], "--min-corr"),
    ("batch no workers", ["batch", "{d}/data", "--out", "{d}/out", "--workers", "-1"], "--workers"),
]


@pytest.mark.parametrize("what, args, named", CASES, ids=[c[0] for c in CASES])
def test_every_bad_argument_is_one_line_and_a_non_zero_exit(files, what, args, named):
    argv = [a.replace("{d}", str(files)) for a in args]
    proc = subprocess.run(cli(*argv, "--weights", str(SEED_WEIGHTS)) if argv[0] in ("infer", "eval") else cli(*argv),
                          capture_output=True, text=True, timeout=120, env=subprocess_env())
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode != 0, (what, proc.stderr)
    assert "Traceback" not in proc.stderr and len(lines) == 1, (what, proc.stderr[-2000:])
    assert named in lines[0], (what, lines[0])


def test_infer_names_stray_anchor_entries_and_writes_files_as_the_umask_says(tmp_path):
    # issue 26 O3 (the keys that match no input are named, and each input without one lists the keys there are)
    # and O6 (outputs were 0600 whatever the umask: now what open() gives, 0640 under umask 027)
    import os
    import stat

    anchors = tmp_path / "a.json"
    anchors.write_text('{"lion.jpg": [[1, 2, 3]], "turtle.jpg": [[4, 5, 6]]}')  # "lion", not "lions": a typo
    out = tmp_path / "out"
    proc = subprocess.run(cli("infer", str(IMAGES["lions"]), "--anchors", str(anchors), "--weights",
                              str(SEED_WEIGHTS), "--output-dir", str(out)),
                          capture_output=True, text=True, timeout=300, env=subprocess_env(),
                          preexec_fn=lambda: os.umask(0o027))
    assert "2 entries match no input file name: lion.jpg, turtle.jpg" in proc.stderr, proc.stderr[-2000:]
    assert "lions.jpg: no entry in the --anchors file (its entries: lion.jpg, turtle.jpg)" in proc.stderr
    written = sorted(out.iterdir())
    assert written and all(stat.S_IMODE(p.stat().st_mode) == 0o640 for p in written), \
        [(p.name, oct(p.stat().st_mode)) for p in written]
