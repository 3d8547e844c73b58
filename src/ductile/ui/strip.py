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

from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from croniter import croniter
from markupsafe import Markup, escape

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


def _cron_before(expr: str, timezone: str | None, before: datetime) -> Iterator[datetime]:
    """Cron times strictly before `before`, newest first, from one iterator (building a croniter
    per step costs milliseconds; 200 schedules x 24 slots made the overview take seconds)."""
    tz = ZoneInfo(timezone or local_zone_name())
    itr = croniter(expr, before.astimezone(tz))
    while True:
        prev = itr.get_prev(datetime)
        if prev.tzinfo is None:
            prev = prev.replace(tzinfo=tz)
        yield prev.astimezone(UTC)


@lru_cache(maxsize=2048)
def _cron_slots(expr: str, timezone: str | None, minute: datetime, n: int) -> tuple[datetime, ...]:
    """The `n` cron times at or before `minute`, newest first. Cached: within a minute every
    render (and every schedule sharing the expression) asks the same question."""
    times = _cron_before(expr, timezone, minute + timedelta(minutes=1))
    return tuple(next(times) for _ in range(n))


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
        minute = now.replace(second=0, microsecond=0)  # cron times are whole minutes
        for slot in _cron_slots(spec.cron, spec.timezone, minute, count * 4 if windows.has_window(spec) else count):
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
    ordered = sorted(jobs)
    starts = [created for created, _ in ordered]
    skips = sorted(skips)
    out = []
    for start, end in spans:
        if floor is not None and end <= floor:
            continue  # wholly before anything this entry could have run in
        inside = ordered[bisect_left(starts, start) : bisect_left(starts, end)]
        states = [_STATE_OF_JOB.get(status, "failed") for _, status in inside]
        if states:
            best = max(states, key=lambda s: _RANK[s])
            out.append(Cell(start, best, len(states)))
        elif bisect_left(skips, end) > bisect_left(skips, start):
            out.append(Cell(start, "skipped"))
        elif (now - start).total_seconds() < grace:
            out.append(Cell(start, "pending"))
        else:
            out.append(Cell(start, "missed"))
    return out


def strip_html(cells: list[Cell], name: str) -> Markup:
    """The strip as HTML, built here rather than by a template loop: 200 schedules make 4,800
    cells, which Jinja took most of a second to render. Each cell: a letter (hidden from screen
    readers), and its time and outcome as `title` and as screen-reader text."""
    parts = [f'<ol class="strip" aria-label="{escape(f"Last {len(cells)} slots of {name}, oldest first")}">']
    parts.extend(map(_cell_html, cells))
    parts.append("</ol>")
    return Markup("".join(parts))


@lru_cache(maxsize=32768)
def _cell_html(c: Cell) -> str:
    """One cell's HTML. Cached: successive renders draw mostly the same cells (a slot's outcome
    rarely changes once past), and the label's date formatting and escaping were most of the
    strip's cost."""
    label = escape(c.label)
    return (
        f'<li class="cell-{c.state}" data-state="{c.state}" title="{label}"><span aria-hidden="true">{c.mark}</span>'
        f'<span class="visually-hidden">{label}</span></li>'
    )
