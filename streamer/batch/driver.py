"""The driver: expand and plan the inputs, skip what the manifest says is done, run the rest on an executor, assemble
each bag when its last segment is in, and say per input what happened. Returns how many inputs failed."""
from __future__ import annotations

import contextlib
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import av

from streamer.batch.assemble import assemble_bag
from streamer.batch.inputs import Input, expand, input_sha256
from streamer.batch.manifest import Manifest
from streamer.batch.plan import PlanError, Unit, plan_bag, plan_images, plan_video
from streamer.batch.summary import InputResult, table
from streamer.batch.units import PARTS, outputs_sha256, part_folder, unit_outputs
from streamer.batch.videoparts import assemble_video, video_outputs
from streamer.core.progress import Progress
from streamer.errors import StreamerError
from streamer.pipeline.offline import output_stems

log = logging.getLogger(__name__)


class Executor(Protocol):
    def run(self, units: list[Unit], on_tick: Any, on_row: Any) -> None: ...


@dataclass
class Job:
    args: list[str]
    out: Path
    conf: dict[str, Any]
    topic: str = ""


def bag_output(out: Path, stem: str) -> Path:
    return out / f"{stem}.depth"


def clean_leftovers(out: Path) -> None:
    """Temporary outputs of an interrupted run (a killed worker's, or this machine's last Ctrl-C)."""
    for tmp in [*out.glob(".*.tmp-*"), *(out / PARTS).glob("*/*.tmp-*")]:
        shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True)
    for part in out.glob(".*.depth.mp4.part"):
        part.unlink(missing_ok=True)


def final_outputs(job: Job, units: list[Unit]) -> list[str]:
    """The names under --out of an assembled input's outputs (the first is its manifest row's `output`)."""
    if units[0].kind == "bag":
        return [bag_output(job.out, units[0].stem).name]
    return video_outputs(units[0].stem, job.conf["batch"].raw)


def plan(job: Job, manifest: Manifest) -> tuple[list[InputResult], list[Unit], dict[str, list[Unit]]]:
    """Per input: its result record; the units still to run; every unit of each bag (for its assembly)."""
    items = expand(job.args)
    results, todo, bags = [], [], {}
    stems = output_stems([item.path for item in items])
    for item, stem in zip(items, stems, strict=True):
        result = InputResult(str(item.path), item.kind)
        results.append(result)
        if item.kind == "bad":
            result.failures.append(item.problem)
            continue
        try:
            units = _plan_one(job, item, stem)
        except (PlanError, OSError) as exc:
            result.failures.append(str(exc))
            continue
        result.units = len(units)
        if units[0].assembled:
            finals = final_outputs(job, units)
            done = manifest.assembled(units[0].sha256, finals[0])
            if done is not None and all((job.out / name).exists() for name in finals):
                result.skipped, result.outputs = len(units), finals
                result.frames = int(done.get("frames", 0))
                continue
            bags[str(item.path)] = units
        for unit in units:
            row = manifest.done(unit.key)
            if row is not None and all((job.out / p).exists() for p in row.get("output", [])) and \
                    unit_outputs(job.out, unit):
                result.skipped += 1
                result.add(row)
                if not units[0].assembled:
                    result.outputs += row.get("output", [])
            else:
                todo.append(unit)
    return results, todo, bags


def _plan_one(job: Job, item: Input, stem: str) -> list[Unit]:
    sha = input_sha256(item)
    if item.kind == "bag":
        return plan_bag(item, sha, stem, job.conf["batch"], job.topic, job.conf["metric"].mode)
    if item.kind == "video":
        return plan_video(item, sha, stem, job.conf["batch"])
    return plan_images(item, sha, stem)


def run_batch(job: Job, executor: Executor) -> int:
    out = job.out
    clean_leftovers(out)
    manifest = Manifest(out)
    results, todo, bags = plan(job, manifest)
    by_input = {r.name: r for r in results}
    waiting = {name: {u.key for u in units if u in todo} for name, units in bags.items()}
    for name in list(waiting):
        if not waiting[name]:  # every segment done by an earlier run, the assembly not: do it now
            _assemble(job, manifest, by_input[name], bags[name])
    progress = Progress(sum(u.frames for u in todo), "batch", unit="frame")
    t0 = time.monotonic()

    def on_row(unit: Unit, row: dict) -> None:
        manifest.append(row)
        result = by_input[str(unit.input)]
        result.add(row)
        if str(unit.input) not in waiting:
            result.outputs += row.get("output", [])
            return
        waiting[str(unit.input)].discard(unit.key)
        if not waiting[str(unit.input)] and not result.failed:
            _assemble(job, manifest, result, bags[str(unit.input)])

    try:
        executor.run(todo, progress.update, on_row)
    finally:
        progress.close()
    log.info("batch: %d units in %.1f s", len(todo), time.monotonic() - t0)
    print(table(results), flush=True)
    failed = [r for r in results if r.failed]
    for r in failed:
        log.error("%s: %s", r.name, "; ".join(r.failures))
    return len(failed)


def _assemble(job: Job, manifest: Manifest, result: InputResult, units: list[Unit]) -> None:
    finals = final_outputs(job, units)
    parts = [part_folder(job.out, u) for u in units]
    conf = job.conf
    try:
        if units[0].kind == "bag":
            assemble_bag(units[0].input, parts, job.out / finals[0], conf["batch"].compression,
                         conf["batch"].depth_bits, conf["ros"].topic("relative"))
        else:
            assemble_video(parts, job.out, units[0].stem, conf["batch"].raw)
    except (StreamerError, OSError, ValueError, av.error.FFmpegError) as exc:
        result.failures.append(f"assembling {finals[0]}: {exc}")
        manifest.append({"input": str(units[0].input), "sha256": units[0].sha256, "status": "error",
                         "output": finals[0], "error": f"assembling: {exc}"})
        return
    files = sorted(p for name in finals for p in [job.out / name, *(job.out / name).rglob("*")] if p.is_file())
    manifest.append({"input": str(units[0].input), "sha256": units[0].sha256, "status": "assembled",
                     "output": finals[0], "outputs": finals, "output_sha256": outputs_sha256(files),
                     "frames": result.frames, "units": len(units)})
    result.outputs = finals
    shutil.rmtree(parts[0].parent, ignore_errors=True)  # the segments live on in the bag
    with contextlib.suppress(OSError):
        (job.out / PARTS).rmdir()  # when no other input's parts wait there
