"""When is a schedule due? Pure functions of the schedule spec and the time passed in.

A *slot* is the nominal time (on the `every` phase or the cron grid); the *fire* time is the slot
plus this slot's jitter. Both are persisted so a restart neither skips nor repeats a slot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from croniter import croniter

from ductile.config import ScheduleConfig
from ductile.timeutil import local_zone_name

MAX_GRACE = 60.0


@dataclass(frozen=True)
class Plan:
    """What to do at startup for one schedule: fire `fire_at` as slot `slot`."""

    slot: datetime
    fire_at: datetime
    catch_up: bool = False  # this fire is a run_once catch-up of a missed slot


def cron_next(expr: str, timezone: str | None, after: datetime) -> datetime:
    """`_cron_next` on the named zone, or the host's local zone as it is now."""
    return _cron_next(expr, timezone or local_zone_name(), after)


@lru_cache(maxsize=4096)  # pure; asked again for the same entry by every /schedules read and dashboard render
def _cron_next(expr: str, timezone: str, after: datetime) -> datetime:
    """The first cron time strictly after `after`, evaluated on the wall clock of `timezone`.

    DST, as cron does it: a wall time skipped by spring-forward runs once right after the jump;
    a wall time repeated by fall-back runs once (the first time), unless the minute or hour field
    is a wildcard (`*`, `*/n`), in which case it keeps firing on the repeated wall clock.
    """
    tz = ZoneInfo(timezone)  # no timezone: the host's local zone (cron_next), as Ductile
    fields = expr.split()
    wildcard = fields[0].startswith("*") or fields[1].startswith("*")
    itr = croniter(expr, after.astimezone(tz))
    for _ in range(1000):
        nxt = itr.get_next(datetime)
        if nxt.tzinfo is None:
            nxt = nxt.replace(tzinfo=tz)
        moment = nxt.astimezone(UTC)
        if moment <= after:
            continue
        if not wildcard and _repeated_wall_time(moment, tz):
            continue  # the same wall time already came (and fired) before the clocks went back
        return moment
    raise ValueError(f"cron expression {expr!r} has no next time after {after.isoformat()}")


def _repeated_wall_time(moment: datetime, tz: ZoneInfo) -> bool:
    """True for the second occurrence of a wall-clock time during a fall-back transition."""
    local = moment.astimezone(tz)
    return local.fold == 1 and local.replace(fold=0).utcoffset() != local.utcoffset()


def next_slot(spec: ScheduleConfig, previous: datetime, now: datetime) -> datetime:
    """The first slot after `previous` that is also after `now` (slots missed meanwhile are skipped)."""
    if spec.every is not None:
        step = timedelta(seconds=spec.every)
        slot = previous + step
        if slot <= now:
            missed = int((now - slot) / step) + 1
            slot += step * missed
        return slot
    assert spec.cron is not None
    return cron_next(spec.cron, spec.timezone, max(previous, now))


def first_slot(spec: ScheduleConfig, now: datetime) -> datetime:
    """A schedule never seen before: `every` fires right away, `cron` at its next grid time."""
    if spec.every is not None:
        return now
    assert spec.cron is not None
    return cron_next(spec.cron, spec.timezone, now)


def fire_time(spec: ScheduleConfig, slot: datetime, draw: float) -> datetime:
    return slot + timedelta(seconds=spec.jitter * draw)


def grace(spec: ScheduleConfig) -> float:
    """How late a fire may be at startup and still count as on time rather than missed."""
    if spec.every is not None:
        return min(spec.every, MAX_GRACE)
    return MAX_GRACE


def plan_at_startup(
    spec: ScheduleConfig, *, slot: datetime | None, fire_at: datetime | None, now: datetime, draw: float
) -> Plan:
    """Resume from persisted state: keep a future or barely-late fire; a missed one is skipped
    (`catch_up: skip`) or run once now (`catch_up: run_once`) before resuming the grid."""
    if slot is None or fire_at is None:
        first = first_slot(spec, now)
        return Plan(first, fire_time(spec, first, draw))
    if fire_at > now or (now - fire_at).total_seconds() <= grace(spec):
        return Plan(slot, fire_at)
    if spec.catch_up in ("run_once", "run_all"):  # run_all of an `every` entry is planned in entries.py
        return Plan(slot, now, catch_up=True)
    upcoming = next_slot(spec, slot, now)
    return Plan(upcoming, fire_time(spec, upcoming, draw))
