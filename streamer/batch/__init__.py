"""`depth-streamer batch`: depth for whole recordings (ROS 2 bags, videos, image folders), on one box or on a Ray
cluster.

It works like this. The driver expands the inputs (`inputs.py`), plans small work units from each input's index
(`plan.py`: a bag's summary, a video's keyframes) and skips the units the manifest says are finished
(`manifest.py`). An executor (`local.py`: worker processes; `ray_executor.py`: Ray actors) hands each unit, a small
description and never frames, to a worker that holds the model: the worker decodes, infers (the daemon's own
per-frame path: InferenceWorker.process -> Steadier -> MetricStage) and writes the unit's output under a temporary
name, renamed when whole (`units.py`, `bagunit.py`). When every unit of a bag is done the driver assembles the output
bag (`assemble.py`): every original message copied byte for byte, plus the depth topics of each segment, the
segments' relative depth brought into one set of units. `summary.py` prints the table per input.
"""
