"""timeutil.to_text: the one stored time format, fixed width, whatever the input's zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from ductile.timeutil import from_text, to_text


def by_fields(moment: datetime) -> str:
    """The format spelled out field by field (what `to_text` did before it used isoformat)."""
    m = moment.astimezone(UTC)
    return f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}.{m.microsecond:06d}Z"


@given(
    st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31)),
    st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8)), None]),
)
def test_to_text_is_fixed_width_utc_with_microseconds(moment, zone):
    aware = moment.replace(tzinfo=zone) if zone is not None else moment
    text = to_text(aware)
    assert text == by_fields(aware)
    assert len(text) == 27 and text.endswith("Z")
    assert from_text(text) == aware.astimezone(UTC)


def test_to_text_pads_small_years_and_whole_seconds():
    assert to_text(datetime(5, 1, 2, 3, 4, 5, tzinfo=UTC)) == "0005-01-02T03:04:05.000000Z"
