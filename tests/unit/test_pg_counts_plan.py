"""The range arithmetic of PostgreSQL's exact time-range totals (store/pg_counts.plan), checked
against a direct count over many timestamps, and the promise that each edge costs at most half
an hour of rows."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

from ductile.store.pg_counts import plan
from ductile.timeutil import to_text

BASE = datetime(2026, 3, 1, tzinfo=UTC)


def _stamps(rng: random.Random) -> list[str]:
    out = []
    for _ in range(2000):
        t = BASE + timedelta(seconds=rng.randint(0, 30 * 3600), microseconds=rng.randint(0, 999_999))
        if rng.random() < 0.1:
            t = t.replace(minute=rng.choice([0, 30]), second=0, microsecond=0)  # on an hour / the half hour
        out.append(to_text(t))
    return out


def _in(stamp: str, lo: str | None, hi: str | None) -> bool:
    return (lo is None or stamp >= lo) and (hi is None or stamp < hi)


def _planned(stamps: list[str], lo: str | None, hi: str | None) -> int:
    p = plan(lo, hi)
    if p is None:
        return sum(_in(s, lo, hi) for s in stamps)
    buckets = Counter(s[:13] for s in stamps)
    total = sum(n for hour, n in buckets.items() if _in(hour, p.first_hour, p.end_hour))
    total += sum(_in(s, a, b) for a, b in p.add for s in stamps)
    total -= sum(_in(s, a, b) for a, b in p.subtract for s in stamps)
    return total


def test_buckets_plus_edges_equal_a_direct_count() -> None:
    rng = random.Random(5)
    stamps = _stamps(rng)
    for _ in range(400):
        lo = BASE + timedelta(seconds=rng.randint(-3600, 31 * 3600))
        hi = lo + timedelta(seconds=rng.choice([0, 1, 600, 1800, 3599, 3600, 5400, 7200, 86400]))
        if rng.random() < 0.2:
            lo = lo.replace(minute=rng.choice([0, 30]), second=0, microsecond=0)
        if rng.random() < 0.2:
            hi = hi.replace(minute=rng.choice([0, 30]), second=0, microsecond=0)
        lo_s, hi_s = rng.choice([(to_text(lo), to_text(hi)), (to_text(lo), None), (None, to_text(hi))])
        if rng.random() < 0.05:
            lo_s, hi_s = to_text(hi), to_text(lo)  # reversed: empty
        assert _planned(stamps, lo_s, hi_s) == sum(_in(s, lo_s, hi_s) for s in stamps), (lo_s, hi_s)


def test_each_edge_counts_at_most_half_an_hour() -> None:
    rng = random.Random(9)
    for _ in range(200):
        lo = BASE + timedelta(seconds=rng.randint(0, 86400), microseconds=rng.randint(0, 999_999))
        hi = lo + timedelta(seconds=rng.randint(3600, 5 * 86400))
        p = plan(to_text(lo), to_text(hi))
        assert p is not None
        edges = [*p.add, *p.subtract]
        assert len(edges) <= 2
        for start, end in edges:
            assert start is not None and end is not None
            span = datetime.fromisoformat(end) - datetime.fromisoformat(start)
            assert timedelta(0) < span <= timedelta(minutes=30), (lo, hi, start, end)


def test_whole_hours_need_no_row_counts() -> None:
    p = plan("2026-03-01T10:00:00.000000Z", "2026-03-02T10:00:00.000000Z")
    assert p is not None
    assert (p.first_hour, p.end_hour, p.add, p.subtract) == ("2026-03-01T10", "2026-03-02T10", [], [])


def test_one_hour_or_a_reversed_range_is_counted_row_by_row() -> None:
    assert plan("2026-03-01T10:05:00.000000Z", "2026-03-01T10:55:00.000000Z") is None
    assert plan("2026-03-01T12:00:00.000000Z", "2026-03-01T10:00:00.000000Z") is None
