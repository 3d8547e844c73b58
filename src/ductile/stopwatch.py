"""The stopwatch's arithmetic: per-step latency percentiles, the 60-bucket p95 trend and the
aggregation of plugin-supplied sub-spans. Pure: `now` and the samples are passed in.

Why a module of its own: `GET /stopwatch/{plugin}` (api/routers/stopwatch.py) reads its samples
from the attempts the job history already keeps (store/stopwatch.py; no table and no write of its
own on the job hot path, issue 11), and everything it then computes is here, where it can be
tested against reference implementations without a database or a gateway.

Rules (Ductile's, written down so the tests can check them):
- percentiles are nearest-rank: rank = ceil(p·n) - 1 on the ascending list, computed in integers
  so 0.95·20 cannot come out as 19.000000000000004 and pick the next value;
- milliseconds are whole, rounded to nearest (halves up, as Go's math.Round on non-negatives);
- the window is split into 60 equal buckets by sample time; each bucket's p95, 0 when empty;
- sub-spans (`ductile_stopwatch_subs`, a list of `{name, dur_ns, ...}` objects in the plugin's
  response) are unvalidated plugin output: anything but a list is none, non-objects are skipped,
  at most `max_subs` objects per response count (manifest `stopwatch.max_subs`, default 32,
  1..256), and a response whose capped list is over 16 KiB as compact JSON contributes none;
  an entry without a string `name` or with a `dur_ns` that is not a non-negative number is skipped.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from ductile.timeutil import from_text

WINDOWS: dict[str, timedelta] = {
    "5m": timedelta(minutes=5),
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
DEFAULT_WINDOW = "1h"
WINDOW_ERROR = "invalid window (use 5m, 1h, 24h, 7d, or 30d)"
BUCKETS = 60
SUBS_KEY = "ductile_stopwatch_subs"
DEFAULT_MAX_SUBS = 32
MAX_SUBS_RANGE = (1, 256)
SUBS_MAX_BYTES = 16 * 1024
# At most this many samples (the newest in the window) are read per request: a 30d window on a
# plugin running every second would otherwise be 2.6 M rows held in memory for one answer.
MAX_SAMPLES = 100_000
PERCENTILES = (50, 95, 99)
# Ductile's stopwatch statuses (for `ductile stopwatch prune --status`), in its order; what each
# means in our attempt outcomes is in store/stopwatch.py (STATUS_SQL) and docs/OPERATIONS.md.
STATUSES = ("ok", "err", "timeout", "capture_error")


class Sample(NamedTuple):
    """One timed attempt as the store reads it: when it started (store text format), how long it
    ran, the pipeline step of its job ("" when invoked directly), and its sub-spans as the JSON
    text of a list (None when not read, absent or not a list)."""

    started_at: str
    duration_ms: float
    step: str
    subs: str | None = None


def window_of(value: str | None) -> tuple[str, timedelta]:
    """The window's name and length; ValueError(WINDOW_ERROR) for anything but the five names."""
    name = DEFAULT_WINDOW if value is None else value
    if name not in WINDOWS:
        raise ValueError(WINDOW_ERROR)
    return name, WINDOWS[name]


def whole_ms(value: float) -> int:
    """Whole milliseconds, rounded to nearest with halves up (durations are never negative)."""
    return int(math.floor(value + 0.5))


def nearest_rank(ordered: Sequence[float], percent: int) -> float:
    """The nearest-rank `percent`-th percentile of an ascending, non-empty sequence."""
    n = len(ordered)
    rank = max(0, -(-percent * n // 100) - 1)  # ceil(percent·n/100) - 1, in integers
    return ordered[min(rank, n - 1)]


def summary(values: Iterable[float]) -> dict[str, int]:
    """`{sample_count, p50_ms, p95_ms, p99_ms}` of durations in milliseconds (all 0 when empty)."""
    ordered = sorted(values)
    if not ordered:
        return {"sample_count": 0, "p50_ms": 0, "p95_ms": 0, "p99_ms": 0}
    out = {"sample_count": len(ordered)}
    for percent in PERCENTILES:
        out[f"p{percent}_ms"] = whole_ms(nearest_rank(ordered, percent))
    return out


def bucket_of(moment: datetime, since: datetime, length: timedelta) -> int:
    """Which of the 60 equal buckets of [since, since + length] holds `moment` (clamped, so the
    window's last instant and a clock a little ahead land in the last bucket)."""
    position = (moment - since) / length * BUCKETS
    return min(BUCKETS - 1, max(0, math.floor(position)))


def trend(timed: Iterable[tuple[datetime, float]], since: datetime, length: timedelta) -> list[int]:
    """The p95 (whole ms) of each of the 60 buckets; 0 for an empty bucket."""
    buckets: list[list[float]] = [[] for _ in range(BUCKETS)]
    for moment, duration in timed:
        buckets[bucket_of(moment, since, length)].append(duration)
    return [whole_ms(nearest_rank(sorted(b), 95)) if b else 0 for b in buckets]


def capped_subs(value: Any, max_subs: int = DEFAULT_MAX_SUBS) -> list[dict[str, Any]]:
    """The sub-spans one response contributes: its objects, at most `max_subs` of them, none when
    `value` is not a list or the capped list is over SUBS_MAX_BYTES as compact JSON."""
    if not isinstance(value, list):
        return []
    kept = [item for item in value if isinstance(item, dict)][:max_subs]
    if not kept:
        return []
    text = json.dumps(kept, separators=(",", ":"), ensure_ascii=False)
    if len(text.encode("utf-8")) > SUBS_MAX_BYTES:
        return []
    return kept


def sub_durations(subs: Iterable[dict[str, Any]]) -> list[tuple[str, float]]:
    """(name, milliseconds) of each usable entry: a string `name` and a finite `dur_ns` ≥ 0."""
    out = []
    for item in subs:
        name, dur = item.get("name"), item.get("dur_ns")
        if not isinstance(name, str) or isinstance(dur, bool) or not isinstance(dur, int | float):
            continue
        try:
            ms = dur / 1_000_000
        except OverflowError:  # an integer past float range
            continue
        if not math.isfinite(ms) or ms < 0:
            continue
        out.append((name, ms))
    return out


def decode_subs(text: str | None, max_subs: int) -> list[tuple[str, float]]:
    """A sample's stored sub-span text → its usable (name, ms) entries; bad JSON counts as none."""
    if text is None:
        return []
    try:
        value = json.loads(text)
    except ValueError:
        return []
    return sub_durations(capped_subs(value, max_subs))


def steps(
    samples: Iterable[Sample],
    *,
    since: datetime,
    length: timedelta,
    include_subs: bool = False,
    max_subs: int = DEFAULT_MAX_SUBS,
) -> list[dict[str, Any]]:
    """One entry per step, sorted by step name: its percentiles, its 60-bucket p95 trend, and
    with `include_subs` its sub-spans' percentiles by name (sorted by name)."""
    grouped: dict[str, list[tuple[datetime, float]]] = {}
    subs: dict[str, dict[str, list[float]]] = {}
    for sample in samples:
        grouped.setdefault(sample.step, []).append((from_text(sample.started_at), sample.duration_ms))
        if include_subs:
            named = subs.setdefault(sample.step, {})
            for name, ms in decode_subs(sample.subs, max_subs):
                named.setdefault(name, []).append(ms)
    out = []
    for step in sorted(grouped):
        timed = grouped[step]
        entry: dict[str, Any] = {
            "step": step,
            **summary(d for _, d in timed),
            "trend_p95_ms": trend(timed, since, length),
        }
        if include_subs:
            entry["subs"] = [{"name": name, **summary(values)} for name, values in sorted(subs[step].items())]
        out.append(entry)
    return out
