"""scheduler/due.py: slots, jitter, startup plans and cron on a wall clock (incl. DST), all pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ductile.config import ScheduleConfig
from ductile.scheduler.due import cron_next, fire_time, first_slot, grace, next_slot, plan_at_startup

T0 = datetime(2026, 11, 29, 10, 0, 0, tzinfo=UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def every(value, **kw) -> ScheduleConfig:
    return ScheduleConfig(every=value, **kw)


def cron(expr, tz=None, **kw) -> ScheduleConfig:
    return ScheduleConfig(cron=expr, timezone=tz, **kw)


# -- every ---------------------------------------------------------------------------------


def test_every_first_slot_is_now_and_next_keeps_the_phase():
    spec = every("2s")
    assert first_slot(spec, T0) == T0
    assert next_slot(spec, T0, T0) == T0 + timedelta(seconds=2)
    # computed a little late: the grid stays anchored to the previous slot, not to `now`
    assert next_slot(spec, T0, T0 + timedelta(seconds=0.3)) == T0 + timedelta(seconds=2)


def test_every_skips_slots_missed_while_down():
    spec = every("10s")
    # 35 s later: slots at +10, +20, +30 are gone; the next is +40 (never one in the past)
    assert next_slot(spec, T0, T0 + timedelta(seconds=35)) == T0 + timedelta(seconds=40)
    # exactly on a slot boundary: that slot is not in the future, so the next one
    assert next_slot(spec, T0, T0 + timedelta(seconds=20)) == T0 + timedelta(seconds=30)


def test_named_intervals():
    assert next_slot(every("hourly"), T0, T0) == T0 + timedelta(hours=1)
    assert next_slot(every("daily"), T0, T0) == T0 + timedelta(days=1)
    assert next_slot(every("weekly"), T0, T0) == T0 + timedelta(days=7)


def test_jitter_is_inside_zero_to_jitter():
    spec = every("1m", jitter="10s")
    assert fire_time(spec, T0, 0.0) == T0
    assert fire_time(spec, T0, 0.5) == T0 + timedelta(seconds=5)
    assert fire_time(spec, T0, 0.9999) < T0 + timedelta(seconds=10)
    assert fire_time(every("1m"), T0, 0.7) == T0  # no jitter configured: the draw is irrelevant


# -- startup plans ---------------------------------------------------------------------------


def test_plan_for_a_never_seen_schedule():
    plan = plan_at_startup(every("5m", jitter="30s"), slot=None, fire_at=None, now=T0, draw=0.5)
    assert plan.slot == T0
    assert plan.fire_at == T0 + timedelta(seconds=15)
    plan = plan_at_startup(cron("0 * * * *"), slot=None, fire_at=None, now=T0 + timedelta(minutes=1), draw=0.0)
    assert plan.slot == utc(2026, 11, 29, 11, 0)


def test_plan_keeps_a_future_fire_so_a_restart_does_not_double_fire():
    spec = every("2s")
    slot = T0 + timedelta(seconds=2)
    plan = plan_at_startup(spec, slot=slot, fire_at=slot, now=T0 + timedelta(seconds=1), draw=0.9)
    assert (plan.slot, plan.fire_at, plan.catch_up) == (slot, slot, False)


def test_plan_keeps_a_barely_late_fire():
    spec = every("1h")
    plan = plan_at_startup(spec, slot=T0, fire_at=T0, now=T0 + timedelta(seconds=30), draw=0.0)
    assert plan.fire_at == T0  # within grace: fires now, as that slot
    assert grace(spec) == 60.0
    assert grace(every("2s")) == 2.0


def test_plan_skips_missed_slots_by_default():
    spec = every("1h")
    now = T0 + timedelta(hours=5, minutes=10)
    plan = plan_at_startup(spec, slot=T0, fire_at=T0, now=now, draw=0.0)
    assert plan.slot == T0 + timedelta(hours=6)
    assert not plan.catch_up


def test_plan_catch_up_run_once_fires_one_missed_slot_now():
    spec = every("1h", catch_up="run_once")
    now = T0 + timedelta(hours=5, minutes=10)
    plan = plan_at_startup(spec, slot=T0, fire_at=T0, now=now, draw=0.0)
    assert plan.catch_up
    assert plan.fire_at == now
    assert plan.slot == T0
    # after that one catch-up the grid resumes in the future, not with five more runs
    assert next_slot(spec, plan.slot, now) == T0 + timedelta(hours=6)


# -- cron ------------------------------------------------------------------------------------


def test_cron_utc_default_and_strictly_after():
    assert cron_next("*/15 * * * *", None, utc(2026, 11, 29, 10, 7)) == utc(2026, 11, 29, 10, 15)
    assert cron_next("*/15 * * * *", None, utc(2026, 11, 29, 10, 15)) == utc(2026, 11, 29, 10, 30)
    assert cron_next("0 0 1 * *", "UTC", utc(2026, 11, 29, 10, 0)) == utc(2026, 12, 1, 0, 0)


def test_cron_is_evaluated_on_the_timezone_wall_clock():
    # 09:00 in New York in winter (EST, UTC-5) is 14:00 UTC; in Tokyo (UTC+9) it is 00:00 UTC
    assert cron_next("0 9 * * *", "America/New_York", utc(2026, 11, 29, 10, 0)) == utc(2026, 11, 29, 14, 0)
    assert cron_next("0 9 * * *", "Asia/Tokyo", utc(2026, 11, 29, 10, 0)) == utc(2026, 11, 30, 0, 0)
    # weekday fields follow the local date, not the UTC date: Monday 08:00 in Tokyo is Sunday 23:00 UTC
    assert cron_next("0 8 * * 1", "Asia/Tokyo", utc(2026, 11, 28, 0, 0)) == utc(2026, 11, 29, 23, 0)


def test_cron_across_spring_forward_keeps_local_time():
    # Europe/Berlin: 2026-03-29 02:00 CET → 03:00 CEST. 09:00 local is 08:00 UTC before, 07:00 UTC after.
    assert cron_next("0 9 * * *", "Europe/Berlin", utc(2026, 3, 28, 9, 0)) == utc(2026, 3, 29, 7, 0)
    assert cron_next("0 9 * * *", "Europe/Berlin", utc(2026, 3, 27, 9, 0)) == utc(2026, 3, 28, 8, 0)


def test_cron_in_the_skipped_hour_fires_once_that_day():
    # 02:30 does not exist on 2026-03-29 in Berlin; the job runs once, right after the jump, not never
    first = cron_next("30 2 * * *", "Europe/Berlin", utc(2026, 3, 28, 12, 0))
    assert utc(2026, 3, 29, 1, 0) <= first < utc(2026, 3, 29, 2, 0)  # 03:00-03:59 CEST
    assert cron_next("30 2 * * *", "Europe/Berlin", first) == utc(2026, 3, 30, 0, 30)  # 02:30 CEST


def test_cron_in_the_repeated_hour_fires_once_not_twice():
    # 2026-10-25 03:00 CEST → 02:00 CET: 02:30 happens twice (00:30 UTC and 01:30 UTC).
    # A daily job fires once that day, at the first 02:30, like cron does.
    first = cron_next("30 2 * * *", "Europe/Berlin", utc(2026, 10, 24, 12, 0))
    assert first == utc(2026, 10, 25, 0, 30)
    assert cron_next("30 2 * * *", "Europe/Berlin", first) == utc(2026, 10, 26, 1, 30)


def test_hourly_cron_keeps_firing_every_real_hour_across_both_transitions():
    def walk(start: datetime, n: int) -> list[datetime]:
        out, at = [], start
        for _ in range(n):
            at = cron_next("0 * * * *", "Europe/Berlin", at)
            out.append(at)
        return out

    autumn = walk(utc(2026, 10, 24, 23, 30), 4)
    assert autumn == [utc(2026, 10, 25, h, 0) for h in range(0, 4)]  # 02:00 CEST, 02:00 CET, 03:00, 04:00
    spring = walk(utc(2026, 3, 29, 0, 30), 3)
    assert spring == [utc(2026, 3, 29, h, 0) for h in range(1, 4)]


@pytest.mark.parametrize("tz", ["UTC", "Europe/Berlin", "America/New_York", "Australia/Sydney"])
def test_next_slot_for_cron_is_always_in_the_future(tz):
    spec = cron("*/5 * * * *", tz)
    previous = utc(2026, 1, 1, 0, 0)
    now = utc(2026, 6, 1, 12, 2, 30)
    assert next_slot(spec, previous, now) == utc(2026, 6, 1, 12, 5)


def test_wildcard_cron_keeps_its_interval_through_the_repeated_hour():
    at, seen = utc(2026, 10, 24, 23, 50), []
    for _ in range(5):
        at = cron_next("*/30 * * * *", "Europe/Berlin", at)
        seen.append(at)
    assert seen == [utc(2026, 10, 25, 0, 0) + timedelta(minutes=30 * i) for i in range(5)]


def test_fixed_time_cron_asked_between_the_two_occurrences_waits_for_the_next_day():
    # the gateway restarts at 02:10 CET (the second 02:xx): the 02:30 CET repeat is not fired
    assert cron_next("30 2 * * *", "Europe/Berlin", utc(2026, 10, 25, 1, 10)) == utc(2026, 10, 26, 1, 30)


def test_cron_without_timezone_runs_on_the_hosts_local_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    """As Ductile: no `timezone` means the server's local zone, not UTC."""
    from ductile.timeutil import local_zone_name

    monkeypatch.setenv("TZ", "Australia/Sydney")
    assert local_zone_name() == "Australia/Sydney"
    after = datetime(2026, 6, 1, 0, 0, tzinfo=UTC)  # winter in Sydney: UTC+10
    assert cron_next("0 7 * * *", None, after) == datetime(2026, 6, 1, 21, 0, tzinfo=UTC)
    assert cron_next("0 7 * * *", "UTC", after) == datetime(2026, 6, 1, 7, 0, tzinfo=UTC)


def test_local_zone_name_ignores_an_unknown_tz() -> None:
    from ductile.timeutil import local_zone_name

    assert local_zone_name({"TZ": "Nowhere/Atlantis"}) != "Nowhere/Atlantis"
