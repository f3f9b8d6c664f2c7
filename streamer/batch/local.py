"""`--executor local`: worker processes on this machine, each with its own model and its share of the cores'
threads. A worker that dies mid-unit (killed, out of memory) is replaced and its unit handed out again, up to
[batch] max_retries times; the driver records each unit once, whichever attempt finished it. A worker that holds a
unit and says nothing for [batch] stall_s (it reports every frame's progress a few times a second) is wedged: it is
killed, and its unit handed out again the same way.

Each worker reports on its own pipe, whose only writer it is: a worker killed in the middle of a message takes
nothing down with it (a queue shared by the workers has one write lock, and a worker killed while holding it
blocks every other worker's messages for good), and its death reads as the end of its pipe."""
from __future__ import annotations

import collections
import logging
import math
import multiprocessing as mp
import os
import signal
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, cast

from streamer.batch.plan import Unit
from streamer.batch.ticks import UnitTicks
from streamer.errors import StreamerError

log = logging.getLogger(__name__)
TICK_EVERY_S = 0.25
OnRow = Callable[[Unit, dict], None]


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def default_workers(units: int) -> int:
    return max(1, min(units, cores() // 2))


def _terminate(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt  # a terminated worker cleans its temporary outputs on the way out


def _worker(conf: dict, weights: str, out: str, calibration: str | None, tasks: Any, results: Any,
            level: int) -> None:
    """`results`: this worker's own pipe to the driver (the write end)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the driver decides
    signal.signal(signal.SIGTERM, _terminate)
    from streamer.batch.units import UnitRunner
    from streamer.core.redact import RedactingFormatter

    handler = logging.StreamHandler()  # a spawned process starts without the driver's logging: the same lines
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])
    pid = os.getpid()
    try:
        runner = UnitRunner(conf, weights, Path(out), calibration)
    except StreamerError as exc:
        results.send(("fatal", pid, str(exc)))
        return
    results.send(("ready", pid))
    while True:
        item = tasks.get()
        if item is None:
            return
        number, attempt, unit = item
        pending = [0, time.monotonic()]

        def tick(n: int, pending: list = pending, number: int = number, attempt: int = attempt) -> None:
            pending[0] += n
            if time.monotonic() - pending[1] >= TICK_EVERY_S:
                results.send(("tick", pid, number, attempt, pending[0]))
                pending[:] = [0, time.monotonic()]

        try:
            row = runner.run(unit, tick)
        except KeyboardInterrupt:
            return
        if pending[0]:
            results.send(("tick", pid, number, attempt, pending[0]))
        results.send(("row", pid, number, attempt, row))


def drain(conn: Connection, handle: Callable[[tuple], None]) -> None:
    """Hand every message waiting on a worker's pipe to `handle`, in order. The pipe's end (its worker is gone, maybe
    in the middle of a message) closes it: it is never read again, and no other worker's pipe is touched."""
    try:
        while not conn.closed and conn.poll(0):
            handle(conn.recv())
    except (EOFError, OSError):  # its exit code follows
        conn.close()


class LocalExecutor:
    def __init__(self, conf: dict, weights: str, out: Path, calibration: str | None, workers: int,
                 max_retries: int, stall_s: float = 0.0) -> None:
        self.conf, self.weights, self.out, self.calibration = conf, weights, out, calibration
        self.workers, self.max_retries, self.stall_s = workers, max_retries, stall_s
        self.ctx = mp.get_context("spawn")  # no fork of a process holding threads and an ONNX session

    def run(self, units: list[Unit], on_tick: Callable[[int], None], on_row: OnRow) -> None:
        """Hand each unit to an idle worker (its own queue: the driver always knows who holds what). The bar gets
        each unit's frames once: those of the attempt that finished it (see UnitTicks)."""
        if not units:
            return
        from streamer.batch.units import with_threads

        workers = min(self.workers or default_workers(len(units)), len(units))
        conf = with_threads(self.conf, max(1, cores() // workers))
        procs: dict[int, tuple[Any, Any, Any]] = {}  # pid -> (process, its task queue, the read end of its pipe)
        held: dict[int, int] = {}  # pid -> the unit number it works on
        heard: dict[int, float] = {}  # pid -> when it last said something (or was handed its unit)
        todo = collections.deque(range(len(units)))
        attempts = [0] * len(units)
        finished: set[int] = set()
        ticks = UnitTicks(on_tick)  # keyed by (unit number, attempt number): the attempt travels with the unit

        def spawn() -> None:
            tasks = self.ctx.Queue()
            reader, writer = self.ctx.Pipe(duplex=False)
            p = self.ctx.Process(target=_worker, args=(conf, self.weights, str(self.out), self.calibration, tasks,
                                                       writer, logging.getLogger().getEffectiveLevel()),
                                 name="batch-worker", daemon=True)
            p.start()
            writer.close()  # the worker holds the only write end: its death is the end of this pipe
            assert p.pid is not None  # started
            procs[p.pid] = (p, tasks, reader)

        def assign(pid: int) -> None:
            if todo and pid in procs and procs[pid][0].exitcode is None:
                number = held[pid] = todo.popleft()
                heard[pid] = time.monotonic()
                procs[pid][1].put((number, attempts[number], units[number]))

        def handle(msg: tuple) -> None:
            kind, pid = msg[0], msg[1]
            if kind == "tick":
                ticks.tick(msg[2], msg[3], msg[4])
            elif kind == "ready":
                assign(pid)
            elif kind == "row":
                held.pop(pid, None)
                if msg[2] not in finished:  # a unit is recorded once, whichever attempt finished it
                    finished.add(msg[2])
                    ticks.finished(msg[2], msg[3])
                    on_row(units[msg[2]], msg[4])
                assign(pid)
            elif kind == "fatal":
                raise StreamerError(msg[2])

        try:
            for _ in range(workers):
                spawn()
            while len(finished) < len(units):
                ready = mp.connection.wait([c for _, _, c in procs.values() if not c.closed], timeout=0.5)
                for pid, (_, _, conn) in list(procs.items()):
                    if conn in ready:
                        heard[pid] = time.monotonic()
                        drain(cast(Connection, conn), handle)
                self._kill_wedged(procs, held, heard, units)
                for dead in [pid for pid, (p, _, _) in procs.items() if p.exitcode is not None]:
                    drain(procs[dead][2], handle)  # what it said before it died (a finished unit's row) counts
                    self._lost(dead, procs, held, attempts, finished, todo, units, on_row)
                    if len(finished) < len(units) and (todo or len(procs) < 1):
                        spawn()
        except BaseException:
            self._stop(procs, at_once=True)
            raise
        self._stop(procs, at_once=False)

    def _kill_wedged(self, procs: dict, held: dict, heard: dict, units: list[Unit]) -> None:
        """SIGKILL each worker that has held its unit in silence for stall_s (its death is then handled as any)."""
        now = time.monotonic()
        for pid, number in held.items():
            p = procs[pid][0]
            if self.stall_s and p.exitcode is None and now - heard.get(pid, now) > self.stall_s:
                log.warning("%s: worker %d said nothing for %.0f s ([batch] stall_s %g): killing it",
                            units[number].label, pid, now - heard[pid], self.stall_s)
                p.kill()
                heard[pid] = math.inf  # killed once; its exit follows

    def _lost(self, pid: int, procs: dict, held: dict, attempts: list, finished: set, todo: Any,
              units: list[Unit], on_row: OnRow) -> None:
        p, _tasks, conn = procs.pop(pid)
        conn.close()
        number = held.pop(pid, None)
        if number is None or number in finished:
            return
        unit = units[number]
        attempts[number] += 1
        if attempts[number] <= self.max_retries:
            log.warning("%s: worker %d died (exit %s); running the unit again (attempt %d)", unit.label, pid,
                        p.exitcode, attempts[number] + 1)
            todo.appendleft(number)
            return
        finished.add(number)
        on_row(unit, unit.row(status="error", error=f"its worker died {attempts[number]} times (last exit "
                                                    f"{p.exitcode})"))

    def _stop(self, procs: dict, at_once: bool) -> None:
        for p, tasks, _conn in procs.values():
            if at_once:
                p.terminate()  # this worker alone, by its own handle: it removes its temporary outputs
            else:
                tasks.put(None)
        for p, *_ in procs.values():
            p.join(10.0)
            if p.exitcode is None:
                p.kill()
                p.join(5.0)
