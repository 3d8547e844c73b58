"""The overview's run strip: a schedule's last N slots, each with what happened in it.

"Has this poll run every 15 minutes for the last week?" is answered by looking at a row of
cells: one per expected slot, oldest left, each succeeded / failed / timed out / skipped /
missed (or running). Everything here is pure (times passed in), so the strip is tested without
a clock and the page only gathers the evidence:

- `past_slots` walks the schedule's grid back from its next slot (`every` steps, cron times on
  the schedule's wall clock), leaving out times a window (`only_between`, `not_on`) forbids;
- `cells` puts each job of the entry (by `created_at`) and each known skip into the slot whose
  span holds it. A slot with neither is `missed`. Slots before `floor` (the earlier of the
  gateway's start and the entry's oldest job in view) are not drawn: a schedule added an hour ago
  has no week of missed slots.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

from ductile.config import ScheduleConfig
from ductile.scheduler import windows
from ductile.timeutil import local_zone_name

# What a cell can say; each has a one-letter mark so the strip never relies on colour alone.
MARKS = {
    "succeeded": "✓",
    "failed": "✕",
    "timed_out": "T",
    "skipped": "S",
    "missed": "M",
    "running": "…",
    "pending": "·",
}
LABELS = {
    "succeeded": "succeeded",
    "failed": "failed",
    "timed_out": "timed out",
    "skipped": "skipped",
    "missed": "missed (no run)",
    "running": "running",
    "pending": "due, not started yet",
}
_STATE_OF_JOB = {
    "succeeded": "succeeded",
    "failed": "failed",
    "dead": "failed",
    "timed_out": "timed_out",
    "skipped": "skipped",
    "queued": "running",
    "running": "running",
}
# When several jobs share a slot (a run-now, a catch-up), the cell shows the most telling one.
_RANK = {"pending": -1, "running": 5, "failed": 4, "timed_out": 3, "succeeded": 2, "skipped": 1, "missed": 0}


@dataclass(frozen=True)
class Cell:
    start: datetime
    state: str
    runs: int = 0  # jobs in the slot

    @property
    def mark(self) -> str:
        return MARKS[self.state]

    @property
    def label(self) -> str:
        """The text alternative: when, and what happened (screen readers, tooltips, tests)."""
        when = self.start.strftime("%Y-%m-%d %H:%M:%S UTC")
        extra = f", {self.runs} runs" if self.runs > 1 else ""
        return f"{when}: {LABELS[self.state]}{extra}"


def _cron_prev(expr: str, timezone: str | None, before: datetime) -> datetime:
    tz = ZoneInfo(timezone or local_zone_name())
    prev = croniter(expr, before.astimezone(tz)).get_prev(datetime)
    if prev.tzinfo is None:
        prev = prev.replace(tzinfo=tz)
    return prev.astimezone(UTC)


def past_slots(spec: ScheduleConfig, next_slot: datetime | None, now: datetime, count: int) -> list[datetime]:
    """Up to `count` slot times at or before `now`, oldest first. One-shots have no grid: []."""
    if spec.one_shot or count <= 0:
        return []
    out: list[datetime] = []
    if spec.every is not None:
        step = timedelta(seconds=spec.every)
        anchor = next_slot or now
        if anchor > now:
            anchor -= step * (int((anchor - now) / step) + 1)
        slot = anchor
        for _ in range(count * 4):  # windows may forbid some; never loop without end
            if windows.allowed(spec, slot) is None:
                out.append(slot)
                if len(out) == count:
                    break
            slot -= step
    elif spec.cron is not None:
        slot = now + timedelta(microseconds=1)
        for _ in range(count * 4):
            slot = _cron_prev(spec.cron, spec.timezone, slot)
            if windows.allowed(spec, slot) is None:
                out.append(slot)
                if len(out) == count:
                    break
    out.reverse()
    return out


def cells(
    slots: list[datetime],
    jobs: list[tuple[datetime, str]],
    skips: list[datetime],
    now: datetime,
    floor: datetime | None = None,
    grace: float = 60.0,
) -> list[Cell]:
    """One cell per slot that ends after `floor`; slot i spans [slots[i], slots[i+1]) and the last
    one up to `now`. `jobs` are (created_at, status); `skips` are times the scheduler skipped.
    An empty slot younger than `grace` seconds (the health policy's `late_after`) is `pending`,
    not yet `missed`."""
    spans = [(s, slots[i + 1] if i + 1 < len(slots) else now + timedelta(microseconds=1)) for i, s in enumerate(slots)]
    out = []
    for start, end in spans:
        if floor is not None and end <= floor:
            continue  # wholly before anything this entry could have run in
        states = [_STATE_OF_JOB.get(status, "failed") for created, status in jobs if start <= created < end]
        if states:
            best = max(states, key=lambda s: _RANK[s])
            out.append(Cell(start, best, len(states)))
        elif any(start <= at < end for at in skips):
            out.append(Cell(start, "skipped"))
        elif (now - start).total_seconds() < grace:
            out.append(Cell(start, "pending"))
        else:
            out.append(Cell(start, "missed"))
    return out
