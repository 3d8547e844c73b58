"""scheduler/windows.py: only_between / not_on in the schedule's zone, incl. midnight and DST, pure.

`next_allowed` is checked against a brute-force minute scan of `allowed` (hypothesis), so the
instant the loop sleeps until is never earlier or later than the first open minute.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from ductile.config import ScheduleConfig
from ductile.scheduler.windows import (
    OUTSIDE_DAY,
    OUTSIDE_WINDOW,
    allowed,
    in_window,
    next_allowed,
    parse_days,
    parse_window,
)

BERLIN = ZoneInfo("Europe/Berlin")
SYDNEY = ZoneInfo("Australia/Sydney")


def spec(**kw) -> ScheduleConfig:
    return ScheduleConfig(every=kw.pop("every", "1s"), **kw)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(tz: ZoneInfo, *args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=tz, fold=fold).astimezone(UTC)


# -- parsing (config check rejects what these refuse: O15) ----------------------------------


def test_window_parsing_and_equal_ends():
    assert parse_window("22:00-06:00") == (22 * 60, 6 * 60)
    assert parse_window(" 8:05-18:30 ") == (8 * 60 + 5, 18 * 60 + 30)
    with pytest.raises(ValueError, match="start and end cannot be equal"):
        parse_window("09:00-09:00")
    for bad in ("9-17", "24:00-01:00", "10:60-11:00", "10:00", "10:00-11:00-12:00", "ab:cd-10:00"):
        with pytest.raises(ValueError, match="only_between"):
            parse_window(bad)


def test_day_names_and_numbers():
    assert parse_days([0, 7]) == {0}
    assert parse_days(["sat", "SUNDAY", "Tues", "thurs"]) == {6, 0, 2, 4}
    assert parse_days("mon") == {1}
    for bad in (8, -1, "someday", True, 1.5):
        with pytest.raises(ValueError, match="not_on"):
            parse_days([bad])
    with pytest.raises(ValueError, match="every day of the week"):
        parse_days(list(range(7)))


def test_config_rejects_malformed_window_keys_with_the_accepted_form():
    for bad, fragment in (
        ({"only_between": "09:00-09:00"}, "start and end cannot be equal"),
        ({"only_between": "9am-5pm"}, "HH:MM"),
        ({"not_on": ["funday"]}, "is not a day"),
        ({"timezone": "Mars/Base"}, "unknown timezone"),
        ({"at": "2026-06-01 07:30"}, "has no UTC offset"),
        ({"at": "tomorrow"}, "not an RFC 3339 time"),
    ):
        with pytest.raises(ValidationError, match=fragment):
            ScheduleConfig(**({"every": "1m"} if "at" not in bad else {}), **bad)
    with pytest.raises(ValidationError, match="exactly one of 'every', 'cron', 'at' or 'after'"):
        ScheduleConfig(at="2026-06-01T07:30:00+10:00", every="1m")


# -- allowed --------------------------------------------------------------------------------


def test_window_crossing_midnight():
    s = spec(only_between="22:00-06:00", timezone="UTC")
    assert allowed(s, utc(2026, 6, 1, 23, 30)) is None
    assert allowed(s, utc(2026, 6, 1, 5, 59, 59)) is None
    assert allowed(s, utc(2026, 6, 1, 6, 0)) == OUTSIDE_WINDOW
    assert allowed(s, utc(2026, 6, 1, 12, 0)) == OUTSIDE_WINDOW
    assert allowed(s, utc(2026, 6, 1, 22, 0)) is None


def test_window_is_wall_clock_in_the_zone_and_utc_when_unset():
    berlin = spec(only_between="08:00-09:00", timezone="Europe/Berlin")
    assert allowed(berlin, local(BERLIN, 2026, 7, 1, 8, 30)) is None  # 06:30 UTC
    assert allowed(berlin, utc(2026, 7, 1, 8, 30)) == OUTSIDE_WINDOW  # 10:30 in Berlin
    unset = spec(only_between="08:00-09:00")
    assert allowed(unset, utc(2026, 7, 1, 8, 30)) is None


def test_not_on_uses_the_local_day():
    # 2026-06-06 is a Saturday. 23:30 UTC Friday is already Saturday 09:30 in Sydney.
    s = spec(not_on=["sat"], timezone="Australia/Sydney")
    assert allowed(s, utc(2026, 6, 5, 23, 30)) == OUTSIDE_DAY
    assert allowed(spec(not_on=["sat"]), utc(2026, 6, 5, 23, 30)) is None
    # day constraint first, as Ductile
    both = spec(not_on=[6], only_between="08:00-09:00")
    assert allowed(both, utc(2026, 6, 6, 12, 0)) == OUTSIDE_DAY


# -- next_allowed ---------------------------------------------------------------------------


def test_next_allowed_is_the_window_start_not_a_poll():
    s = spec(only_between="22:00-06:00", timezone="UTC")
    assert next_allowed(s, utc(2026, 6, 1, 12, 0, 17)) == utc(2026, 6, 1, 22, 0)
    assert next_allowed(s, utc(2026, 6, 1, 23, 0)) == utc(2026, 6, 1, 23, 0)  # open: now
    weekend_off = spec(not_on=["sat", "sun"], only_between="09:00-10:00")
    # Friday 11:00 → Monday 09:00
    assert next_allowed(weekend_off, utc(2026, 6, 5, 11, 0)) == utc(2026, 6, 8, 9, 0)


def test_spring_forward_window_inside_the_gap_opens_at_the_jump():
    # Berlin, 2026-03-29: 02:00 CET jumps to 03:00 CEST (01:00 UTC). A 02:30-04:00 window
    # opens at the jump: 03:00 local, never at a wall time that did not exist.
    s = spec(only_between="02:30-04:00", timezone="Europe/Berlin")
    start = local(BERLIN, 2026, 3, 29, 0, 0)
    assert next_allowed(s, start) == utc(2026, 3, 29, 1, 0)
    assert allowed(s, utc(2026, 3, 29, 1, 0)) is None
    # the day before it opens at 02:30 CET = 01:30 UTC
    assert next_allowed(s, local(BERLIN, 2026, 3, 28, 0, 0)) == utc(2026, 3, 28, 1, 30)


def test_fall_back_window_opens_on_the_first_occurrence_and_stays_open_through_the_repeat():
    # Berlin, 2026-10-25: 03:00 CEST goes back to 02:00 CET; 02:00-02:30 happens twice.
    s = spec(only_between="02:00-02:30", timezone="Europe/Berlin")
    first = local(BERLIN, 2026, 10, 25, 2, 0, fold=0)  # 00:00 UTC
    assert next_allowed(s, local(BERLIN, 2026, 10, 25, 1, 0)) == first
    assert allowed(s, local(BERLIN, 2026, 10, 25, 2, 15, fold=1)) is None  # the repeat is inside too
    # after the first pass closes (02:30 CEST = 00:30 UTC), the repeated 02:00 CET reopens it
    assert next_allowed(s, utc(2026, 10, 25, 0, 31)) == local(BERLIN, 2026, 10, 25, 2, 0, fold=1)


def test_sydney_dst_both_ways():
    # Sydney: 2026-04-05 03:00 AEDT → 02:00 AEST; 2026-10-04 02:00 AEST → 03:00 AEDT.
    s = spec(only_between="02:15-02:45", timezone="Australia/Sydney")
    # spring forward: 02:15-02:45 does not exist on 10-04, so the next opening is 10-05 02:15
    assert next_allowed(s, local(SYDNEY, 2026, 10, 4, 1, 0)) == local(SYDNEY, 2026, 10, 5, 2, 15)
    # fall back: 02:15 happens twice on 04-05; the first one opens it
    assert next_allowed(s, local(SYDNEY, 2026, 4, 5, 0, 0)) == local(SYDNEY, 2026, 4, 5, 2, 15, fold=0)


ZONES = ["UTC", "Europe/Berlin", "Australia/Sydney", "America/New_York", "Asia/Kolkata"]
MINUTES = st.integers(0, 24 * 60 - 1)


@st.composite
def window_specs(draw: st.DrawFn) -> ScheduleConfig:
    start, end = draw(MINUTES), draw(MINUTES)
    tz = draw(st.sampled_from(ZONES))
    kw: dict = {"timezone": tz}
    if start != end and draw(st.booleans()):
        kw["only_between"] = f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}"
    days = draw(st.sets(st.integers(0, 6), max_size=6))
    if days:
        kw["not_on"] = sorted(days)
    return spec(**kw)


# around the 2026 transitions of these zones, and ordinary days
INSTANTS = st.datetimes(min_value=datetime(2026, 3, 20), max_value=datetime(2026, 11, 10)).map(
    lambda d: d.replace(tzinfo=UTC)
)


@settings(max_examples=60, deadline=None)
@given(window_specs(), INSTANTS)
def test_next_allowed_matches_a_minute_scan(s: ScheduleConfig, now: datetime):
    found = next_allowed(s, now)
    assert found is not None and found >= now and allowed(s, found) is None
    # nothing allowed strictly between now and found (checked on every minute boundary, plus now)
    probe = now
    while probe < found:
        assert allowed(s, probe) is not None, (probe, found)
        probe = (probe + timedelta(minutes=1)).replace(second=0, microsecond=0)


@given(MINUTES, MINUTES, MINUTES)
def test_in_window_matches_the_definition(start: int, end: int, minute: int):
    if start == end:
        return
    expected = start <= minute < end if start < end else (minute >= start or minute < end)
    assert in_window((start, end), minute) is expected
