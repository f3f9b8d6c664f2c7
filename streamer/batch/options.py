"""`[batch]`: how `depth-streamer batch` cuts inputs into work units and runs them."""
from __future__ import annotations

from dataclasses import dataclass

from streamer.config.options import opt
from streamer.render.views import VIEWS


@dataclass(frozen=True)
class BatchOptions:
    segment_s: float = opt(180.0, "a bag or video longer than this is cut (at a keyframe) into segments of about this "
                                  "length, each a work unit of its own, so one long recording spreads over many "
                                  "workers; 0 = one unit per input", unit="s", min=0.0, max=86400.0)
    warmup_s: float = opt(5.0, "a segment starts this much earlier and discards those frames, so the steady stage "
                               "has converged and the stitched output equals one pass over the whole input",
                          unit="s", min=0.0, max=600.0)
    workers: int = opt(0, "local executor: worker processes, each with its own model and threads/workers of the "
                          "cores; 0 = as many as fit (one per 2 cores, at least 1)", min=0, max=256)
    num_cpus: float = opt(1.0, "ray executor: CPUs each actor reserves (its model runs on that many threads)",
                          min=0.0, max=1024.0)
    num_gpus: float = opt(0.0, "ray executor: GPUs each actor reserves (0 = CPU only)", min=0.0, max=64.0)
    actors: int = opt(0, "ray executor: actors (model holders); 0 = as many as the cluster's CPUs allow at "
                         "num_cpus each", min=0, max=4096)
    max_retries: int = opt(2, "a unit whose worker died (killed, out of memory, node lost) is run again this many "
                              "times before it is an error row", min=0, max=100)
    stall_s: float = opt(300.0, "a worker (or Ray actor) that holds a unit and reports nothing (no frame done) for "
                                "this long is killed and its unit run again, as if it had died; 0 = never",
                         unit="s", min=0.0, max=86400.0)
    points: bool = opt(False, "bags: also write PointCloud2 on [ros] namespace/points (needs metric depth)")
    depth_bits: int = opt(23, "bags: mantissa bits kept in the written float32 depth maps (23 = exact; 8 = the "
                              "recorder's default, far smaller after compression)", min=1, max=23)
    compression: str = opt("zstd", "bags: MCAP chunk compression of the output bag", choices=("zstd", "none"))
    view: str = opt("depth", "videos: what the depth video shows (as `infer --view`)", choices=VIEWS)
    raw: bool = opt(False, "videos: also <stem>.depth.npz with every raw map (as `infer --raw`)")
