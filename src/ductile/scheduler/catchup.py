"""`catch_up` after downtime for `every` entries (pipelines.md §9.5): pure arithmetic on slots.

`run_all` runs every missed slot (at most `RUN_ALL_CAP`), each as its own job with a per-slot
dedupe key, so a crash half-way through catch-up and a restart do not run a slot twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ductile.timeutil import to_text

RUN_ALL_CAP = 100


@dataclass(frozen=True)
class CatchUp:
    slots: tuple[datetime, ...]  # one job each, oldest first
    last_fired: datetime  # what `last_fired_at` becomes once they are enqueued


def missed(base: datetime, interval: float, now: datetime) -> int:
    """Slots after `base` that are due by `now`: 0 if now < base + interval, else
    ⌊(now - (base + interval)) / interval⌋ + 1."""
    step = timedelta(seconds=interval)
    first = base + step
    if now < first:
        return 0
    return int((now - first) / step) + 1


def run_all(base: datetime, interval: float, now: datetime, cap: int = RUN_ALL_CAP) -> CatchUp:
    """Slot i (1-based) = base + i·interval for i ≤ min(missed, cap); last fired = base + n·interval."""
    count = min(missed(base, interval, now), cap)
    step = timedelta(seconds=interval)
    slots = tuple(base + step * i for i in range(1, count + 1))
    return CatchUp(slots, base + step * count)


def dedupe_key(plugin: str, command: str, schedule_id: str, slot: datetime) -> str:
    """`<plugin>:<command>:<schedule_id>:catchup:<slot as RFC 3339 UTC, seconds>`."""
    return f"{plugin}:{command}:{schedule_id}:catchup:{to_text(slot.replace(microsecond=0))[:19]}Z"
