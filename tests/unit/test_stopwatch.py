"""The stopwatch's pure arithmetic (ductile/stopwatch.py): nearest-rank percentiles against a
reference written with exact fractions, whole-ms rounding, the 60 buckets and their edges, and the
defensive reading of plugin-supplied sub-spans (caps, size limit, malformed entries)."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ductile import stopwatch as sw
from ductile.timeutil import to_text

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)


def reference_rank(values: list[float], p: Fraction) -> float:
    """Nearest rank as the definition reads: the smallest value with at least p·n values at or below it."""
    ordered = sorted(values)
    n = len(ordered)
    rank = math.ceil(p * n) - 1  # Fraction: exact
    return ordered[max(rank, 0)]


durations = st.floats(min_value=0, max_value=1e7, allow_nan=False, allow_infinity=False)


@given(st.lists(durations, min_size=1, max_size=300), st.sampled_from([50, 95, 99]))
def test_nearest_rank_matches_the_definition(values: list[float], percent: int) -> None:
    assert sw.nearest_rank(sorted(values), percent) == reference_rank(values, Fraction(percent, 100))


@given(st.lists(durations, min_size=1, max_size=300))
def test_summary_is_each_percentile_in_whole_ms(values: list[float]) -> None:
    out = sw.summary(values)
    assert out["sample_count"] == len(values)
    for percent in (50, 95, 99):
        expected = Fraction(reference_rank(values, Fraction(percent, 100)))
        assert out[f"p{percent}_ms"] == math.floor(expected + Fraction(1, 2))
    assert out["p50_ms"] <= out["p95_ms"] <= out["p99_ms"]


def test_nearest_rank_edges() -> None:
    twenty = [float(i) for i in range(1, 21)]
    assert sw.nearest_rank(twenty, 95) == 19.0  # ceil(0.95·20) - 1 = 18 → the 19th value, exactly
    assert sw.nearest_rank(twenty, 50) == 10.0
    assert sw.nearest_rank(twenty, 99) == 20.0
    assert sw.nearest_rank([7.0], 50) == sw.nearest_rank([7.0], 99) == 7.0
    hundred = [float(i) for i in range(1, 101)]
    assert (sw.nearest_rank(hundred, 50), sw.nearest_rank(hundred, 95), sw.nearest_rank(hundred, 99)) == (50, 95, 99)


@pytest.mark.parametrize(("ms", "whole"), [(0.0, 0), (0.4999, 0), (0.5, 1), (1.5, 2), (2.5, 3), (119.6, 120)])
def test_whole_ms_rounds_halves_up(ms: float, whole: int) -> None:
    assert sw.whole_ms(ms) == whole


def test_empty_summary_is_zero() -> None:
    assert sw.summary([]) == {"sample_count": 0, "p50_ms": 0, "p95_ms": 0, "p99_ms": 0}


@pytest.mark.parametrize(
    ("offset", "bucket"),
    [
        (timedelta(0), 0),
        (timedelta(seconds=59.999), 0),  # 1h / 60 = one minute per bucket
        (timedelta(seconds=60), 1),
        (timedelta(minutes=30), 30),
        (timedelta(minutes=59, seconds=59), 59),
        (timedelta(hours=1), 59),  # the window's last instant: the last bucket
        (timedelta(hours=1, seconds=5), 59),  # a clock a little ahead: clamped
        (timedelta(seconds=-1), 0),
    ],
)
def test_bucket_edges(offset: timedelta, bucket: int) -> None:
    since = NOW - timedelta(hours=1)
    assert sw.bucket_of(since + offset, since, timedelta(hours=1)) == bucket


def test_trend_has_sixty_entries_each_its_buckets_p95() -> None:
    length = timedelta(hours=1)
    since = NOW - length
    timed = [(since + timedelta(seconds=10), 5.0), (since + timedelta(seconds=20), 7.4)]
    timed += [(since + timedelta(minutes=59, seconds=i), float(i)) for i in range(1, 21)]
    trend = sw.trend(timed, since, length)
    assert len(trend) == 60
    assert trend[0] == 7 and trend[59] == 19 and trend[1:59] == [0] * 58


@given(st.lists(st.floats(min_value=0, max_value=3600, allow_nan=False), max_size=200))
def test_trend_always_sixty_and_zero_only_where_empty(offsets: list[float]) -> None:
    length = timedelta(hours=1)
    since = NOW - length
    timed = [(since + timedelta(seconds=o), 1.0 + o) for o in offsets]
    trend = sw.trend(timed, since, length)
    assert len(trend) == 60
    filled = {sw.bucket_of(m, since, length) for m, _ in timed}
    assert {i for i, v in enumerate(trend) if v} == filled


def test_window_names() -> None:
    assert sw.window_of(None) == ("1h", timedelta(hours=1))
    assert sw.window_of("30d") == ("30d", timedelta(days=30))
    for bad in ("", "1d", "60m", "1H", " 1h"):
        with pytest.raises(ValueError, match=r"invalid window \(use 5m, 1h, 24h, 7d, or 30d\)"):
            sw.window_of(bad)


# -- sub-spans ------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, "[]", {"name": "x", "dur_ns": 1}, 5, "fetch", True])
def test_subs_that_are_not_a_list_are_none(value: object) -> None:
    assert sw.capped_subs(value) == []


def test_subs_skip_non_objects_and_cap_the_rest() -> None:
    items = [1, "x", None, [1]] + [{"name": f"s{i}", "dur_ns": i} for i in range(40)]
    assert sw.capped_subs(items) == [{"name": f"s{i}", "dur_ns": i} for i in range(32)]
    assert len(sw.capped_subs(items, 256)) == 40
    assert sw.capped_subs(items, 1) == [{"name": "s0", "dur_ns": 0}]


def test_subs_over_16_kib_are_dropped_whole() -> None:
    fits = [{"name": "x" * 100, "dur_ns": 1}] * 32  # ~ 3.9 KiB
    assert sw.capped_subs(fits) == fits
    big = [{"name": "x" * 600, "dur_ns": 1}] * 32  # ~ 19.7 KiB once capped
    assert sw.capped_subs(big) == []
    # what counts is the capped list: 40 entries of 600 chars are fine when only 20 count
    assert len(sw.capped_subs([{"name": "x" * 600, "dur_ns": 1}] * 40, 20)) == 20
    exact = [{"name": "é" * 8, "pad": "y" * (sw.SUBS_MAX_BYTES - 38)}]
    assert len(json.dumps(exact, separators=(",", ":"), ensure_ascii=False).encode()) == sw.SUBS_MAX_BYTES
    assert sw.capped_subs(exact) == exact  # 16 KiB exactly is kept (UTF-8 bytes are what count)
    over = [{"name": "é" * 9, "pad": "y" * (sw.SUBS_MAX_BYTES - 38)}]
    assert sw.capped_subs(over) == []


def test_sub_durations_skip_what_cannot_be_aggregated() -> None:
    items = [
        {"name": "ok", "dur_ns": 1_500_000, "extra": {"a": 1}},
        {"dur_ns": 5},  # no name
        {"name": 7, "dur_ns": 5},  # not a string
        {"name": "nodur"},
        {"name": "text", "dur_ns": "5"},
        {"name": "bool", "dur_ns": True},
        {"name": "neg", "dur_ns": -1},
        {"name": "nan", "dur_ns": float("nan")},
        {"name": "huge", "dur_ns": 10**400},
        {"name": "float", "dur_ns": 2.5e6},
    ]
    assert sw.sub_durations(items) == [("ok", 1.5), ("float", 2.5)]


@pytest.mark.parametrize("text", [None, "not json", "{", '{"name": "x"}', "5"])
def test_decode_subs_of_odd_text_is_none(text: str | None) -> None:
    assert sw.decode_subs(text, 32) == []


def test_steps_group_sort_and_subs() -> None:
    length = timedelta(hours=1)
    since = NOW - length

    def sample(minute: int, ms: float, step: str, subs: object = None) -> sw.Sample:
        return sw.Sample(
            to_text(since + timedelta(minutes=minute)), ms, step, None if subs is None else json.dumps(subs)
        )

    samples = [
        sample(1, 100.0, "b", [{"name": "z", "dur_ns": 3e6}, {"name": "a", "dur_ns": 1e6}]),
        sample(2, 200.0, "b", [{"name": "a", "dur_ns": 2e6}, "junk", {"dur_ns": 9}]),
        sample(3, 50.0, ""),
        sample(30, 300.0, "a", "not a list"),
    ]
    plain = sw.steps(samples, since=since, length=length)
    assert [s["step"] for s in plain] == ["", "a", "b"]
    assert all("subs" not in s for s in plain)
    b = plain[2]
    assert (b["sample_count"], b["p50_ms"], b["p95_ms"], b["p99_ms"]) == (2, 100, 200, 200)
    assert b["trend_p95_ms"][1] == 100 and b["trend_p95_ms"][2] == 200 and sum(b["trend_p95_ms"]) == 300
    with_subs = sw.steps(samples, since=since, length=length, include_subs=True)
    assert with_subs[0]["subs"] == [] and with_subs[1]["subs"] == []
    assert with_subs[2]["subs"] == [
        {"name": "a", "sample_count": 2, "p50_ms": 1, "p95_ms": 2, "p99_ms": 2},
        {"name": "z", "sample_count": 1, "p50_ms": 3, "p95_ms": 3, "p99_ms": 3},
    ]
    capped = sw.steps(samples, since=since, length=length, include_subs=True, max_subs=1)
    # one object per response: "z" from the first, "a" from the second
    assert [(s["name"], s["sample_count"]) for s in capped[2]["subs"]] == [("a", 1), ("z", 1)]
    assert sw.steps([], since=since, length=length) == []
