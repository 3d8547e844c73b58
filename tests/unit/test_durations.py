from __future__ import annotations

import pytest

from ductile.durations import DurationError, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30.0),
        ("5m", 300.0),
        ("1h30m", 5400.0),
        ("2d", 172800.0),
        ("1w", 604800.0),
        ("100ms", 0.1),
        ("1m30s500ms", 90.5),
        ("1.5s", 1.5),
        (" 10S ", 10.0),
        (45, 45.0),
        (0.25, 0.25),
    ],
)
def test_valid_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "5", "5 m", "m5", "1h-30m", "5mm", "1x", "-5s", "1h 30m"])
def test_invalid_durations_name_what_is_accepted(text):
    with pytest.raises(DurationError) as info:
        parse_duration(text)
    assert f"{text!r}" in str(info.value)
    assert "accepted: a number with a unit ms/s/m/h/d/w" in str(info.value)


def test_bool_and_other_types_are_refused():
    for value in (True, None, [1], {"s": 1}):
        with pytest.raises(DurationError):
            parse_duration(value)


def test_zero_only_where_allowed():
    with pytest.raises(DurationError, match="must be greater than zero"):
        parse_duration("0s")
    assert parse_duration("0s", allow_zero=True) == 0.0
    with pytest.raises(DurationError, match="must be greater than zero"):
        parse_duration(-3)


def test_named_intervals_only_for_schedules():
    assert parse_duration("hourly", allow_named=True) == 3600.0
    assert parse_duration("daily", allow_named=True) == 86400.0
    assert parse_duration("weekly", allow_named=True) == 604800.0
    assert parse_duration("monthly", allow_named=True) == 30 * 86400.0
    with pytest.raises(DurationError) as info:
        parse_duration("daily")
    assert "hourly|daily" not in str(info.value)
    with pytest.raises(DurationError, match=r"or hourly\|daily\|weekly\|monthly"):
        parse_duration("fortnightly", allow_named=True)


def test_format_round_trips():
    for seconds in (0.1, 1.0, 59.0, 90.0, 3600.0, 5400.0, 172800.0 + 61):
        assert parse_duration(format_duration(seconds)) == pytest.approx(seconds)
    assert format_duration(5400) == "1h30m"
    assert format_duration(0.25) == "250ms"
