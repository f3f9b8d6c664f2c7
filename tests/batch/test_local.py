"""The local executor: a worker process killed in the middle of a unit is replaced and the unit run again; the run
completes with every unit recorded once and the same bytes as a run nobody disturbed, and the progress bar counts
the unit's frames once."""
from __future__ import annotations

import io
import multiprocessing as mp
import os
import signal
from collections import Counter

from streamer.batch.driver import Job, plan
from streamer.batch.local import LocalExecutor, drain
from streamer.batch.manifest import Manifest
from streamer.config.schema import parse_set
from streamer.core.progress import Progress
from streamer.pipeline.options import load_config
from tests.batch.bags import write_bag
from tests.batch.conftest import run_batch
from tests.batch.faults import bar_counts, manifest_rows, output_files, run_signalling_a_worker, workers_mid_unit
from tests.conftest import SEED_WEIGHTS, cli, subprocess_env


def test_killed_worker_is_replaced_and_its_unit_runs_once(tmp_path):
    bags = [write_bag(tmp_path / "a", count=12), write_bag(tmp_path / "b", count=5)]
    args = ("--segment-s", "0.6", "--warmup-s", "0.3", "--workers", "2")
    calm = run_batch(*bags, "--out", tmp_path / "calm", *args)
    assert calm.returncode == 0, calm.stderr
    out = tmp_path / "killed"
    killed, run = run_signalling_a_worker(cli("batch", *map(str, bags), "--out", str(out), *args, "--weights",
                                              str(SEED_WEIGHTS), "--threads", "1"), out, subprocess_env())
    stderr = run.stderr
    assert run.returncode == 0, stderr[-3000:]
    assert f"worker {killed} died" in stderr
    done = Counter(r["unit"] for r in manifest_rows(out) if r["status"] == "done")
    assert len(done) == 3 and set(done.values()) == {1}, done  # a: two segments, b: one
    assert output_files(out) == output_files(tmp_path / "calm")
    bar = bar_counts(stderr)
    assert bar and bar[-1] == (17, 17) and all(done <= total for done, total in bar), bar


def test_a_wedged_worker_is_killed_after_stall_s_and_its_unit_runs_again(tmp_path):
    """A worker stopped mid-unit (SIGSTOP: alive, silent, as one stuck in a read or a lock) is killed once it has
    said nothing for [batch] stall_s, and its unit runs again on a new worker; the run completes."""
    bag = write_bag(tmp_path / "a", count=12)
    out = tmp_path / "out"
    stopped, run = run_signalling_a_worker(cli("batch", str(bag), "--out", str(out), "--segment-s", "0", "--workers",
                                               "1", "--set", "batch.stall_s=3", "--weights", str(SEED_WEIGHTS),
                                               "--threads", "1"), out, subprocess_env(), signal.SIGSTOP)
    stderr = run.stderr
    assert run.returncode == 0, stderr[-3000:]
    assert f"worker {stopped} said nothing for " in stderr and "([batch] stall_s 3): killing it" in stderr, stderr
    assert f"worker {stopped} died (exit -9); running the unit again (attempt 2)" in stderr, stderr
    rows = [r for r in manifest_rows(out) if r["status"] == "done"]
    assert len(rows) == 1 and rows[0]["frames"] == 12 and not rows[0]["worker"].endswith(f":{stopped}"), rows


def test_a_killed_workers_frames_count_once_on_the_bar(tmp_path):
    """One worker, one long unit: the worker is killed as soon as the bar has some of its frames, the unit runs again
    on a new worker, and the bar ends at the unit's frames, never above."""
    bag = write_bag(tmp_path / "long", count=150)
    out = tmp_path / "out"
    out.mkdir()
    conf = load_config(None, [parse_set("model.threads=1"), parse_set("batch.segment_s=0")])
    _, todo, _ = plan(Job([str(bag)], out, conf), Manifest(out))
    total = sum(u.frames for u in todo)
    assert len(todo) == 1 and total == 150
    bar = Progress(total, "batch", unit="frame", stream=io.StringIO())
    seen: list[int] = []  # what the bar showed after each tick
    killed: list[int] = []
    rows: list[dict] = []

    def on_tick(n: int) -> None:
        bar.update(n)
        seen.append(bar.done)
        if n > 0 and not killed:  # the first frames of the first attempt are on the bar: kill their worker
            killed.extend(workers_mid_unit(out))
            assert len(killed) == 1, killed
            os.kill(killed[0], signal.SIGKILL)

    LocalExecutor(conf, str(SEED_WEIGHTS), out, None, workers=1, max_retries=2).run(
        todo, on_tick, lambda unit, row: rows.append(row))
    assert [r["status"] for r in rows] == ["done"], rows
    assert not rows[0]["worker"].endswith(f":{killed[0]}")  # the second attempt finished it
    assert rows[0]["frames"] == total
    assert seen[0] > 0 and bar.done == total
    assert max(seen) <= total, seen  # the dead attempt's frames were taken back when the unit ran again


def _said_then_died_mid_message(conn) -> None:
    """A worker's last moments: one whole message, then the start of another (its length and 10 of 1000 bytes)."""
    conn.send(("tick", os.getpid(), 0, 0, 3))
    os.write(conn.fileno(), (1000).to_bytes(4, "big", signed=True) + b"x" * 10)
    os._exit(0)


def _says_ready(conn) -> None:
    conn.send(("ready", os.getpid()))


def test_a_worker_dead_in_the_middle_of_a_message_closes_only_its_own_pipe():
    """Each worker reports on its own pipe (a queue shared by the workers has one write lock, which a worker killed
    while writing kept for good: every later message waited forever). Its whole messages are read, its torn one
    ends its pipe, and the next worker's pipe reads on."""
    ctx = mp.get_context("spawn")
    said: list[tuple] = []
    pipes = []
    for target in (_said_then_died_mid_message, _says_ready):
        reader, writer = ctx.Pipe(duplex=False)
        p = ctx.Process(target=target, args=(writer,))
        p.start()
        writer.close()
        p.join(60)
        assert p.exitcode == 0
        pipes.append(reader)
    drain(pipes[0], said.append)
    assert pipes[0].closed and [m[0] for m in said] == ["tick"], said
    drain(pipes[0], said.append)  # closed: never read again
    drain(pipes[1], said.append)
    assert [m[0] for m in said] == ["tick", "ready"], said  # (then its end: that worker is done too)
