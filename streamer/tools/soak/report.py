"""The soak's measurements: per-interval sample rows, the latency histogram, the row format and the summary."""
from __future__ import annotations

import statistics
import time
from collections.abc import Iterable

import numpy as np

from streamer.tools.measure import DaemonProcess, fd_count, http_stats, load_1m, pcts, rss_mb, thread_count
from streamer.tools.soak.clients import MjpegViewer, ZmqReader
from streamer.tools.soak.options import SoakOptions

RSS_TARGET_PCT = 10.0


class LatencyHistogram:
    """0.5 ms bins up to 10 s: percentiles over hours of frames in constant memory."""

    BIN_MS, BINS = 0.5, 20_000

    def __init__(self) -> None:
        self.counts = np.zeros(self.BINS, np.int64)

    def add(self, values_ms: list[float]) -> None:
        if values_ms:
            idx = np.clip((np.asarray(values_ms) / self.BIN_MS).astype(np.int64), 0, self.BINS - 1)
            self.counts += np.bincount(idx, minlength=self.BINS)

    def percentile(self, q: float) -> float | None:
        total = int(self.counts.sum())
        if not total:
            return None
        return round((int(np.searchsorted(np.cumsum(self.counts), q / 100 * total)) + 0.5) * self.BIN_MS, 1)


class Sampler:
    """Turns counters read every `sample_s` into per-interval rates; all baselines advance together, and only on a
    good /stats read, so every delta in a row covers the same interval."""

    def __init__(self, daemon: DaemonProcess, viewers: list[MjpegViewer], readers: list[ZmqReader],
                 slow: ZmqReader | None) -> None:
        self.daemon, self.viewers, self.slow = daemon, viewers, slow
        self.readers = readers + ([slow] if slow else [])  # readers[0]: the normal one that measures latency
        self.latency = LatencyHistogram()
        self._prev = self._read()

    def _read(self) -> dict:
        return {"mono": time.monotonic(), "stats": http_stats(self.daemon.http_port),
                "parts": [v.parts for v in self.viewers],
                "readers": [(r.messages, r.frames, r.gaps) for r in self.readers]}

    def sample(self, t_s: float, phase: str) -> dict:
        pid = self.daemon.pid
        row: dict = {"t_s": round(t_s, 1), "phase": phase, "rss_mb": round(rss_mb(pid), 1),
                     "threads": thread_count(pid), "fds": fd_count(pid), "load_1m": load_1m()}
        taken = [r.take() for r in self.readers]  # from every reader, so no list grows without bound
        latency, ages = taken[0][0], (taken[-1][1] if self.slow else [])
        self.latency.add(latency)
        row["latency_ms"] = pcts(latency)
        row["slow_max_age_s"] = round(max(ages), 2) if ages else None
        try:
            now = self._read()
        except (OSError, ValueError) as exc:  # a busy or dying daemon: keep the /proc part of the row
            row["stats_error"] = repr(exc)
            return row
        prev, self._prev = self._prev, now
        dt = now["mono"] - prev["mono"]
        s, p = now["stats"], prev["stats"]
        sent = s["publishers"]["zmq-publisher"]["sent"] - p["publishers"]["zmq-publisher"]["sent"]
        (_, got0, gaps0), *_ = prev["readers"]
        (_, got1, gaps1), *_ = now["readers"]
        row.update({
            "fps_in": round((s["source"]["frames"] - p["source"]["frames"]) / dt, 2),
            "fps_out": round((s["frames_out"] - p["frames_out"]) / dt, 2),
            "dropped_slot": s["dropped"] - p["dropped"],  # captured frames the network never saw (newest wins)
            "dropped_publishers": {name: c["dropped"] - p["publishers"][name]["dropped"]
                                   for name, c in s["publishers"].items()},
            "zmq_sent": sent,
            "sub_received": got1 - got0,
            "sub_missed": max(0, sent - (got1 - got0)),  # sent by the daemon, never seen by the normal subscriber
            "sub_gaps": gaps1 - gaps0,
            "mjpeg_fps": [round((b - a) / dt, 1) for a, b in zip(prev["parts"], now["parts"], strict=True)],
            "mjpeg_reconnects": sum(v.reconnects for v in self.viewers),
        })
        if self.slow:
            (msgs0, _, slow_gaps0), (msgs1, _, slow_gaps1) = prev["readers"][-1], now["readers"][-1]
            row.update({"slow_received": msgs1 - msgs0, "slow_gaps": slow_gaps1 - slow_gaps0})
        return row


HEADER = (f"{'t/s':>6} {'phase':>5} {'in/s':>5} {'out/s':>5} {'slot':>5} {'zmq':>4} {'mjpg':>4} {'p50ms':>6} "
          f"{'p99ms':>6} {'RSS MB':>7} {'thr':>4} {'fds':>4} {'mjpeg/s min-max':>15} {'recon':>5} "
          f"{'miss':>4} {'gaps':>5} {'slow gaps':>9} {'load':>5}")


def format_row(r: dict) -> str:
    def num(key: str, fmt: str, width: int) -> str:
        value = r.get(key)
        return f"{value:{width}{fmt}}" if value is not None else f"{'-':>{width}}"

    drops = r.get("dropped_publishers", {})
    mjpeg = r.get("mjpeg_fps") or []
    span = f"{min(mjpeg):.1f}-{max(mjpeg):.1f}" if mjpeg else "-"
    lat = r.get("latency_ms") or {}
    error = f"  /stats: {r['stats_error']}" if "stats_error" in r else ""
    return (f"{r['t_s']:6.0f} {r['phase']:>5} {num('fps_in', '.1f', 5)} {num('fps_out', '.1f', 5)} "
            f"{num('dropped_slot', 'd', 5)} {drops.get('zmq-publisher', '-'):>4} "
            f"{drops.get('http-publisher', '-'):>4} {lat.get('p50', '-'):>6} {lat.get('p99', '-'):>6} "
            f"{num('rss_mb', '.1f', 7)} {num('threads', 'd', 4)} {num('fds', 'd', 4)} {span:>15} "
            f"{num('mjpeg_reconnects', 'd', 5)} {num('sub_missed', 'd', 4)} {num('sub_gaps', 'd', 5)} "
            f"{num('slow_gaps', 'd', 9)} {num('load_1m', '.2f', 5)}{error}")


def summarize(opts: SoakOptions, samples: list[dict], sampler: Sampler | None, viewers: list[MjpegViewer],
              normals: list[ZmqReader], slow: ZmqReader | None) -> dict:
    good = [s for s in samples if "fps_out" in s]  # rows with a /stats read
    warm = next((s for s in samples if s["t_s"] >= opts.warmup_s), None)
    last = samples[-1] if samples else None
    growth = None
    if warm and last and last is not warm and warm["rss_mb"] > 0:
        growth = round((last["rss_mb"] - warm["rss_mb"]) / warm["rss_mb"] * 100, 2)
    # Flat is judged once everything is connected: the slow subscriber's socket is one more fd in the daemon.
    settled = [s for s in samples if s["t_s"] >= opts.warmup_s and s["phase"] != "base"]
    fps_out = [s["fps_out"] for s in good]
    publishers = sorted({name for s in good for name in s["dropped_publishers"]})
    latency = sampler.latency if sampler else LatencyHistogram()
    return {
        "duration_s": last["t_s"] if last else 0.0, "samples": len(samples),
        "rss_mb": {"warm_at_s": warm and warm["t_s"], "warm": warm and warm["rss_mb"], "last": last and last["rss_mb"],
                   "growth_pct": growth, "target_pct": RSS_TARGET_PCT,
                   "ok": growth is not None and growth < RSS_TARGET_PCT},
        "threads": _span("threads", samples, settled), "fds": _span("fds", samples, settled),
        "fps_in_mean": _mean(s["fps_in"] for s in good),
        "fps_out": {"mean": _mean(fps_out), "min": min(fps_out) if fps_out else None},
        "dropped": {"slot": sum(s["dropped_slot"] for s in good),
                    **{p: sum(s["dropped_publishers"].get(p, 0) for s in good) for p in publishers}},
        "latency_ms": {"p50": latency.percentile(50), "p99": latency.percentile(99),
                       "frames": int(latency.counts.sum())},
        "mjpeg": {"parts": [v.parts for v in viewers], "reconnects": sum(v.reconnects for v in viewers),
                  "fps_mean": [_mean(s["mjpeg_fps"][i] for s in good) for i in range(len(viewers))]},
        "zmq": {"normal_frames": [r.frames for r in normals], "normal_gaps": [r.gaps for r in normals],
                "slow_messages": slow.messages if slow else None, "slow_gaps": slow.gaps if slow else None,
                "slow_max_age_s": max((s["slow_max_age_s"] for s in samples if s["slow_max_age_s"]), default=None)},
        "slow_effect": _slow_effect(good),
    }


def _slow_effect(rows: list[dict]) -> dict:
    """Did the slow subscriber cost anyone else? Same run, before and after it joined: the normal subscriber's share
    of sent frames it never saw, and the daemon's output rate. Thresholds leave room for a noisy machine."""
    def phase(name: str) -> dict | None:
        picked = [r for r in rows if r["phase"] == name]
        sent = sum(r["zmq_sent"] for r in picked)
        if not picked or not sent:
            return None
        return {"samples": len(picked), "fps_out_mean": _mean(r["fps_out"] for r in picked),
                "normal_missed_pct": round(100 * sum(r["sub_missed"] for r in picked) / sent, 2),
                "normal_gaps": sum(r["sub_gaps"] for r in picked),
                "zmq_publisher_drops": sum(r["dropped_publishers"].get("zmq-publisher", 0) for r in picked)}

    base, with_slow = phase("base"), phase("slow")
    if not (base and with_slow):
        return {"baseline": base, "with_slow": with_slow, "affected_others": None}
    # Two signs, kept apart: lost frames point at the transport; a lower fps_out on a CPU-bound daemon may just
    # be load from elsewhere (see load_1m), so it is reported, not blamed.
    lost = with_slow["normal_missed_pct"] > base["normal_missed_pct"] + 1.0
    slower = with_slow["fps_out_mean"] < 0.9 * base["fps_out_mean"]
    return {"baseline": base, "with_slow": with_slow, "normal_subscriber_lost_frames": lost,
            "fps_out_fell_10pct": slower, "affected_others": lost or slower}


def _span(key: str, rows: list[dict], settled: list[dict]) -> dict:
    values = [r[key] for r in rows if r.get(key) is not None]
    late = {r[key] for r in settled if r.get(key) is not None}
    return {"min": min(values, default=None), "max": max(values, default=None),
            "flat_when_settled": len(late) == 1 if late else None}


def _mean(values: Iterable[float]) -> float | None:
    values = list(values)
    return round(statistics.fmean(values), 2) if values else None


def print_summary(s: dict) -> None:
    rss, eff = s["rss_mb"], s["slow_effect"]
    flat = {True: "flat", False: "NOT flat", None: "n/a"}
    state = "DIED" if s["daemon_died"] else "alive until we stopped it"
    print(f"\nsummary: {s['duration_s']:g} s, {s['samples']} samples; daemon {state} (exit {s['daemon_exit']})"
          + ("; interrupted" if s["interrupted"] else ""))
    if rss["growth_pct"] is None:
        print(f"  RSS       last {rss['last']} MB; growth n/a (no sample after the warm-up and before the last)")
    else:
        print(f"  RSS       {rss['warm']} MB at t={rss['warm_at_s']:g} s -> {rss['last']} MB: {rss['growth_pct']:+} % "
              f"(target < {rss['target_pct']:g} %: {'ok' if rss['ok'] else 'OVER'})")
    th, fd = s["threads"], s["fds"]
    print(f"  threads   {th['min']}..{th['max']}, {flat[th['flat_when_settled']]}; fds {fd['min']}..{fd['max']}, "
          f"{flat[fd['flat_when_settled']]} (target flat after warm-up with every client connected)")
    print(f"  fps       in {s['fps_in_mean']} mean; out {s['fps_out']['mean']} mean, {s['fps_out']['min']} min")
    print("  dropped   " + ", ".join(f"{k} {v}" for k, v in s["dropped"].items())
          + "  (slot: captured frames the network never saw, newest wins)")
    lat = s["latency_ms"]
    print(f"  latency   capture->publish p50 {lat['p50']} ms, p99 {lat['p99']} ms over {lat['frames']} frames")
    m, z = s["mjpeg"], s["zmq"]
    print(f"  MJPEG     {len(m['parts'])} viewers, parts/s each {m['fps_mean']}, {m['reconnects']} reconnects")
    slow = "" if z["slow_messages"] is None else \
        f"; slow one {z['slow_messages']} messages, {z['slow_gaps']} seq gaps, frames up to {z['slow_max_age_s']} s old"
    print(f"  ZeroMQ    normal subscriber(s) {z['normal_frames']} frames, {z['normal_gaps']} seq gaps{slow}")
    if eff["affected_others"] is None:
        print("  slow subscriber effect: n/a (needs samples both before and after it joined)")
        return
    b, w = eff["baseline"], eff["with_slow"]
    signs = [name for key, name in (("normal_subscriber_lost_frames", "normal subscriber lost frames"),
                                    ("fps_out_fell_10pct", "fps_out fell > 10 %")) if eff[key]]
    print(f"  slow subscriber effect on the others: {'YES: ' + ', '.join(signs) if signs else 'none'} "
          f"(fps_out {b['fps_out_mean']} -> {w['fps_out_mean']}, normal subscriber missed "
          f"{b['normal_missed_pct']} % -> {w['normal_missed_pct']} % of sent frames, zmq-publisher drops "
          f"{b['zmq_publisher_drops']} -> {w['zmq_publisher_drops']})")
