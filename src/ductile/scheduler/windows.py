"""Schedule windows (`only_between`, `not_on`), evaluated on the wall clock of the schedule's zone.

Pure functions of the spec and the instant passed in (pipelines.md §9.3). The zone is the entry's
`timezone`, else **UTC** (unlike `cron`, which defaults to the host's zone, as Ductile does).

Ductile re-checks the window on every tick. Our scheduler has no tick: it sleeps until the next fire
time. So a fire that lands outside the window is skipped once and the entry sleeps until
`next_allowed`, the first instant inside the window, computed here — the same "fires on the first
tick inside the window" without waking every second to ask.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from ductile.config import ScheduleConfig

OUTSIDE_DAY = "outside_day_constraint"
OUTSIDE_WINDOW = "outside_time_window"
HORIZON_DAYS = 9  # a week of `not_on` plus a day either side: past it nothing new can open

_DAY_NAMES = {
    "sun": 0,
    "sunday": 0,
    "mon": 1,
    "monday": 1,
    "tue": 2,
    "tues": 2,
    "tuesday": 2,
    "wed": 3,
    "wednesday": 3,
    "thu": 4,
    "thurs": 4,
    "thursday": 4,
    "fri": 5,
    "friday": 5,
    "sat": 6,
    "saturday": 6,
}
DAYS_ACCEPTED = (
    "day names (sun|sunday, mon|monday, tue|tues|tuesday, wed|wednesday, thu|thurs|thursday, "
    "fri|friday, sat|saturday) or integers 0-6 (0 = Sunday) and 7 (Sunday)"
)


def parse_window(text: str) -> tuple[int, int]:
    """`"HH:MM-HH:MM"` → (start, end) in minutes of the day; equal ends are an error (O15)."""
    parts = text.strip().split("-") if isinstance(text, str) else []
    if len(parts) != 2:
        raise ValueError(f'only_between {text!r} is not a window (accepted: "HH:MM-HH:MM", 24 h, e.g. "22:00-06:00")')
    start, end = (_minute(part.strip(), text) for part in parts)
    if start == end:
        raise ValueError(f"only_between {text!r}: start and end cannot be equal")
    return start, end


def _minute(part: str, text: str) -> int:
    hours, _, minutes = part.partition(":")
    if not (hours.isdigit() and minutes.isdigit() and len(minutes) == 2 and 1 <= len(hours) <= 2):
        raise ValueError(f"only_between {text!r}: {part!r} is not HH:MM (accepted: 00:00 to 23:59)")
    h, m = int(hours), int(minutes)
    if h > 23 or m > 59:
        raise ValueError(f"only_between {text!r}: {part!r} is not a time of day (accepted: 00:00 to 23:59)")
    return h * 60 + m


def parse_days(values: Any) -> set[int]:
    """`not_on` → weekday numbers with 0 = Sunday (Ductile's numbering)."""
    if not isinstance(values, list | tuple):
        values = [values]
    days: set[int] = set()
    for value in values:
        if isinstance(value, bool):
            raise ValueError(f"not_on: {value!r} is not a day (accepted: {DAYS_ACCEPTED})")
        if isinstance(value, int):
            if not 0 <= value <= 7:
                raise ValueError(f"not_on: {value} is not a day number (accepted: {DAYS_ACCEPTED})")
            days.add(value % 7)
        elif isinstance(value, str) and value.strip().lower() in _DAY_NAMES:
            days.add(_DAY_NAMES[value.strip().lower()])
        else:
            raise ValueError(f"not_on: {value!r} is not a day (accepted: {DAYS_ACCEPTED})")
    if len(days) == 7:
        raise ValueError("not_on lists every day of the week, so the schedule could never fire")
    return days


def zone(spec: ScheduleConfig) -> ZoneInfo:
    return ZoneInfo(spec.timezone or "UTC")


def has_window(spec: ScheduleConfig) -> bool:
    return bool(spec.only_between or spec.not_on)


def allowed(spec: ScheduleConfig, now: datetime) -> str | None:
    """None when the entry may fire at `now`, else the skip reason (day checked first, as Ductile)."""
    if not has_window(spec):
        return None
    local = now.astimezone(zone(spec))
    if spec.not_on and _weekday(local.date()) in spec.not_on:
        return OUTSIDE_DAY
    if spec.only_between and not in_window(parse_window(spec.only_between), local.hour * 60 + local.minute):
        return OUTSIDE_WINDOW
    return None


def in_window(window: tuple[int, int], minute: int) -> bool:
    """start < end: start ≤ m < end; start > end crosses midnight: m ≥ start or m < end."""
    start, end = window
    if start < end:
        return start <= minute < end
    return minute >= start or minute < end


def _weekday(day: date) -> int:
    return (day.weekday() + 1) % 7  # Python: Monday = 0; Ductile: Sunday = 0


def next_allowed(spec: ScheduleConfig, now: datetime) -> datetime | None:
    """The first instant ≥ `now` at which `allowed` is None (None: nothing within the horizon).

    Whether a moment is allowed depends only on its wall clock, which moves continuously except at
    DST transitions. So it can only become allowed at `now`, at a wall-clock boundary (a window
    start, a local midnight) or at a transition instant: those are the candidates, each verified
    with `allowed` itself, so this can never disagree with the check the loop makes.
    """
    if allowed(spec, now) is None:
        return now
    return next((c for c in _candidates(spec, now) if c >= now and allowed(spec, c) is None), None)


def _candidates(spec: ScheduleConfig, now: datetime) -> list[datetime]:
    tz = zone(spec)
    first = now.astimezone(tz).date()
    walls = [time(0, 0)]
    if spec.only_between:
        start, _ = parse_window(spec.only_between)
        walls.append(time(start // 60, start % 60))
    out: list[datetime] = []
    for offset in range(HORIZON_DAYS):
        day = first + timedelta(days=offset)
        for wall in walls:
            out.extend(_instants(day, wall, tz))
        out.extend(_transitions(day, tz))
    return sorted(set(out))


def _instants(day: date, wall: time, tz: ZoneInfo) -> Iterable[datetime]:
    """Every UTC instant at which the wall clock reads `day wall`: none in a spring-forward gap,
    two in a fall-back overlap."""
    for fold in (0, 1):
        local = datetime.combine(day, wall, tzinfo=tz).replace(fold=fold)
        moment = local.astimezone(UTC)
        back = moment.astimezone(tz)
        if back.replace(tzinfo=None) == local.replace(tzinfo=None):
            yield moment


def _transitions(day: date, tz: ZoneInfo) -> list[datetime]:
    """The instant the UTC offset changes during `day` (local), to the second; [] if none."""
    lo = int((datetime.combine(day, time(0, 0), tzinfo=tz).astimezone(UTC) - timedelta(hours=3)).timestamp())
    hi = lo + 30 * 3600
    before = _offset(lo, tz)
    if before == _offset(hi, tz):
        return []
    while hi - lo > 1:  # invariant: offset(lo) == before != offset(hi)
        mid = (lo + hi) // 2
        if _offset(mid, tz) == before:
            lo = mid
        else:
            hi = mid
    return [datetime.fromtimestamp(hi, UTC)]


def _offset(seconds: int, tz: ZoneInfo) -> timedelta | None:
    return datetime.fromtimestamp(seconds, UTC).astimezone(tz).utcoffset()
