"""`--executor ray --ray-address auto|HOST:PORT`: Ray Core actors, each holding the model, on a running cluster.

The weights travel once through the object store (one `ray.put`); every actor checks their sha256 before it loads
them (a restarted actor too), and keeps them as a file in its own cache. Each actor reserves [batch] num_cpus and
num_gpus and runs its model on that many threads. Units are small descriptions; the actor reads the input and writes
the outputs itself, so the inputs and --out must be at the same paths on every node (a shared filesystem). An actor
whose process dies is restarted (max_restarts) and its unit run again (max_task_retries): the driver records each
unit once. An actor that holds a unit and reports no progress for [batch] stall_s (a hung read, a lock) is killed
by the driver and restarted the same way. Ray is imported here only: the rest of the package never needs it.
"""
from __future__ import annotations

import collections
import hashlib
import logging
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from streamer.batch.plan import Unit
from streamer.batch.ticks import UnitTicks
from streamer.errors import StreamerError

try:
    import ray
    from ray.util.queue import Empty, Queue
except ImportError:  # an optional extra: said in one line when asked for
    ray = None  # type: ignore[assignment]

log = logging.getLogger(__name__)
MISSING = "--executor ray needs Ray: pip install 'depth-streamer[ray]'"
TICK_EVERY_S = 0.5


class UnitActor:
    """One model holder on a Ray worker."""

    def __init__(self, conf: dict, weights: bytes, sha256: str, out: str, calibration: str | None,
                 progress: Any) -> None:
        from streamer.batch.units import UnitRunner
        from streamer.core.files import atomic_write
        from streamer.model.weights import cache_dir

        got = hashlib.sha256(weights).hexdigest()
        if got != sha256:
            raise StreamerError(f"the weights arrived damaged on {os.uname().nodename} (sha256 {got[:16]}, "
                                f"expected {sha256[:16]})")
        path = cache_dir() / "batch-weights" / f"{sha256}.pt"
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_file() or path.stat().st_size != len(weights):
            atomic_write(path, weights)
        self.runner = UnitRunner(conf, str(path), Path(out), calibration)
        self.progress = progress

    def run(self, unit: Unit) -> tuple[str, dict]:
        """(this attempt's name, the unit's row). Ray re-runs the call on a restarted actor after a death: each run
        is an attempt of its own, for the driver's bar (UnitTicks)."""
        attempt = uuid.uuid4().hex
        pending = [0, time.monotonic()]

        def tick(n: int) -> None:
            pending[0] += n
            if time.monotonic() - pending[1] >= TICK_EVERY_S:
                self.progress.put((unit.key, attempt, pending[0]))
                pending[:] = [0, time.monotonic()]

        row = self.runner.run(unit, tick)
        if pending[0]:
            self.progress.put((unit.key, attempt, pending[0]))
        return attempt, row

    def pid(self) -> int:
        return os.getpid()


class RayExecutor:
    def __init__(self, conf: dict, weights: str, out: Path, calibration: str | None, address: str) -> None:
        if ray is None:
            raise StreamerError(MISSING)
        self.conf, self.weights, self.out, self.calibration, self.address = conf, weights, out, calibration, address

    def run(self, units: list[Unit], on_tick: Callable[[int], None], on_row: Callable[[Unit, dict], None]) -> None:
        if not units:
            return
        try:
            ray.init(address=self.address, log_to_driver=False, logging_level=logging.WARNING)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            raise StreamerError(f"cannot join the Ray cluster at {self.address}: {exc}") from None
        try:
            self._run(units, on_tick, on_row)
        finally:
            ray.shutdown()  # the driver leaves; the cluster stays

    def _run(self, units: list[Unit], on_tick: Callable[[int], None], on_row: Callable[[Unit, dict], None]) -> None:
        from streamer.batch.units import with_threads
        from streamer.core.files import file_sha256

        batch = self.conf["batch"]
        conf = with_threads(self.conf, max(1, int(round(batch.num_cpus)) or 1))
        blob = Path(self.weights).read_bytes()
        sha = file_sha256(self.weights)
        weights_ref = ray.put(blob)  # once: every actor (and every restart) reads this one copy
        progress: Any = Queue(actor_options={"num_cpus": 0})
        cpus = ray.cluster_resources().get("CPU", 1.0)
        count = batch.actors or max(1, int(cpus // batch.num_cpus) if batch.num_cpus else int(cpus))
        count = min(count, len(units))
        remote: Any = ray.remote(UnitActor).options(num_cpus=batch.num_cpus, num_gpus=batch.num_gpus,
                                               max_restarts=batch.max_retries, max_task_retries=batch.max_retries)
        actors = [remote.remote(conf, weights_ref, sha, str(self.out), self.calibration, progress)
                  for _ in range(count)]
        todo = collections.deque(units)
        pending: dict[Any, tuple[Unit, Any]] = {}
        heard: dict[Any, float] = {}  # a pending call -> when its unit last made progress (or was handed out)
        by_key: dict[str, Any] = {}  # a unit's key -> its pending call
        free = list(actors)
        ticks = UnitTicks(on_tick)  # each unit's frames once on the bar, however often its actor died
        try:
            while todo or pending:
                while free and todo:
                    actor, unit = free.pop(), todo.popleft()
                    ref = actor.run.remote(unit)
                    pending[ref], heard[ref], by_key[unit.key] = (unit, actor), time.monotonic(), ref
                if not pending:  # every actor is gone for good
                    for unit in todo:
                        on_row(unit, unit.row(status="error", error="no Ray actor is left to run it"))
                    return
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.25)
                for key in self._drain(progress, ticks):
                    if by_key.get(key) in heard:
                        heard[by_key[key]] = time.monotonic()
                self._kill_wedged(pending, heard)
                for ref in ready:
                    unit, actor = pending.pop(ref)
                    heard.pop(ref, None)
                    try:
                        attempt, row = ray.get(ref)
                        ticks.finished(unit.key, attempt)
                        free.append(actor)
                    except ray.exceptions.RayActorError as exc:  # restarts and retries used up
                        row = unit.row(status="error", error=f"its Ray actor died: {str(exc).splitlines()[0]}")
                    except ray.exceptions.RayTaskError as exc:
                        row = unit.row(status="error", error=str(exc.cause) if exc.cause else str(exc).splitlines()[0])
                        free.append(actor)
                    on_row(unit, row)
            self._drain(progress, ticks)
        finally:
            for actor in actors:
                ray.kill(actor)  # ours: the actors this run created
            ray.kill(progress.actor)

    def _kill_wedged(self, pending: dict, heard: dict) -> None:
        """Kill (for a restart) each actor whose unit has made no progress for stall_s: Ray then runs the unit again
        on it, as after any death, while max_restarts lasts."""
        stall = self.conf["batch"].stall_s
        now = time.monotonic()
        for ref, (unit, actor) in pending.items():
            if stall and now - heard[ref] > stall:
                log.warning("%s: its Ray actor reported nothing for %.0f s ([batch] stall_s %g): killing it for a "
                            "restart", unit.label, now - heard[ref], stall)
                ray.kill(actor, no_restart=False)
                heard[ref] = now  # its restart and the unit's new run get stall_s again

    @staticmethod
    def _drain(progress: Any, ticks: UnitTicks) -> set[str]:
        """Every tick waiting on the bar; returns the keys of the units that made progress."""
        keys: set[str] = set()
        while True:
            try:
                key, attempt, n = progress.get_nowait()
            except Empty:
                return keys
            ticks.tick(key, attempt, n)
            keys.add(key)

