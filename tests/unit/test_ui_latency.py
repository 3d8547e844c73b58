"""The Latency section's pure parts (sparkline geometry, its words, the window links) and the
shared stopwatch read's limit and deadline (`read_stopwatch`), with a fake store, no gateway."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from ductile import stopwatch as sw
from ductile.api.routers import stopwatch as route
from ductile.ui.latency import (
    BAR_WIDTH,
    DIRECT,
    MIN_BAR,
    SPARK_HEIGHT,
    SPARK_WIDTH,
    slice_starts,
    slice_text,
    sparkline,
    step_rows,
    window_links,
)

NOW = datetime(2026, 11, 29, 10, 0, 0, tzinfo=UTC)


def trend(values: dict[int, int]) -> list[int]:
    return [values.get(i, 0) for i in range(sw.BUCKETS)]


def test_bars_only_for_slices_with_runs_scaled_to_the_highest() -> None:
    spark = sparkline(trend({0: 50, 30: 100, 59: 25}), "24h")
    assert [b.index for b in spark.bars] == [0, 30, 59]
    tallest = spark.bars[1]
    assert tallest.height == SPARK_HEIGHT and tallest.y == 0
    assert spark.bars[0].height == SPARK_HEIGHT / 2 and spark.bars[0].y == SPARK_HEIGHT / 2
    for bar in spark.bars:  # every bar stands on the bottom and inside the box, in its own slot
        assert bar.y + bar.height == SPARK_HEIGHT
        slot = SPARK_WIDTH / sw.BUCKETS
        assert bar.index * slot <= bar.x and bar.x + BAR_WIDTH <= (bar.index + 1) * slot
    assert (spark.low, spark.high) == (25, 100)


def test_a_tiny_slice_is_still_visible() -> None:
    spark = sparkline(trend({0: 1, 1: 100_000}), "1h")
    assert spark.bars[0].height == MIN_BAR and spark.bars[0].y == SPARK_HEIGHT - MIN_BAR


def test_the_label_gives_the_range_and_the_window_in_words() -> None:
    assert sparkline(trend({3: 48, 9: 153}), "24h").label == (
        "p95 per slice over the last 24 h, 60 slices, oldest left: 2 with runs, from 48 ms to 153 ms"
    )
    assert sparkline(trend({3: 70}), "7d").label.endswith("last 7 days, 60 slices, oldest left: 1 with runs, all 70 ms")
    empty = sparkline(trend({}), "5m")
    assert empty.bars == [] and empty.label.endswith("no slice above 0 ms")


def test_slices_start_where_the_api_buckets_them() -> None:
    starts = slice_starts(NOW, "1h")
    assert len(starts) == 60 and starts[0] == NOW - timedelta(hours=1) and starts[59] == NOW - timedelta(minutes=1)
    since, length = NOW - timedelta(hours=1), timedelta(hours=1)
    for i, start in enumerate(starts):  # each start falls in its own bucket by the API's rule
        assert sw.bucket_of(start, since, length) == i


def test_slice_text_names_each_slice_with_runs() -> None:
    text = slice_text(trend({0: 40, 59: 60}), NOW, "1h")
    assert text == "p95 by slice start (UTC): 09:00:00 40 ms; 09:59:00 60 ms"
    assert slice_text(trend({1: 5}), NOW, "7d") == "p95 by slice start (UTC): 11-22 12:48 5 ms"
    assert slice_text(trend({}), NOW, "5m").endswith("none above 0 ms")


def test_window_links_mark_the_chosen_one_and_quote_the_name() -> None:
    links = window_links("a b/c", "7d")
    assert [link["name"] for link in links] == ["5m", "1h", "24h", "7d", "30d"]
    assert [link["current"] for link in links] == [False, False, False, True, False]
    assert links[0]["url"] == "/ui/plugins/a%20b%2Fc?window=5m#latency"
    assert not any(link["current"] for link in window_links("x", ""))


def test_step_rows_label_direct_runs_and_keep_the_api_numbers() -> None:
    step = {"sample_count": 3, "p50_ms": 1, "p95_ms": 2, "p99_ms": 3, "trend_p95_ms": trend({59: 2})}
    body = {
        "window": "1h",
        "captured_at": "2026-11-29T10:00:00Z",
        "steps": [{"step": "", **step}, {"step": "s", **step}],
    }
    rows = step_rows(body)
    assert [r["label"] for r in rows] == [DIRECT, "s"] and rows[0]["direct"] and not rows[1]["direct"]
    assert rows[1]["p95_ms"] == 2 and rows[1]["slices"].endswith("09:59:00 2 ms")


# --- read_stopwatch: the one read of the API and the page -------------------------------------


class SlowStore:
    """A store whose read blocks until released, counting how many run at once."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.calls = 0

    def stopwatch_samples(self, plugin: str, since: Any, now: Any, **_: Any) -> tuple[list[sw.Sample], bool]:
        with self.lock:
            self.running += 1
            self.calls += 1
            self.most = max(self.most, self.running)
        self.release.wait(5)
        with self.lock:
            self.running -= 1
        return [sw.Sample(started_at="2099-01-01T00:00:00Z", duration_ms=5.0, step="")], False


async def test_a_page_stops_waiting_but_the_read_keeps_its_slot_until_done() -> None:
    state, store = SimpleNamespace(), SlowStore()
    first = await route.read_stopwatch(state, store, "p", "1h", False, 32, wait=0.1)
    assert first is None  # the page gave up; the read is still running on its thread
    limit = route.read_limit(state)
    assert limit._value == route.CONCURRENT_READS - 1  # its slot is still taken
    store.release.set()
    for _ in range(100):
        if limit._value == route.CONCURRENT_READS:
            break
        await asyncio.sleep(0.02)
    assert limit._value == route.CONCURRENT_READS and not route._running


async def test_reads_beyond_the_limit_wait_and_a_waiting_page_read_is_dropped() -> None:
    state, store = SimpleNamespace(), SlowStore()
    api = [asyncio.ensure_future(route.read_stopwatch(state, store, "p", "1h", False, 32)) for _ in range(2)]
    await asyncio.sleep(0.2)
    assert store.running == 2
    page = await route.read_stopwatch(state, store, "p", "1h", False, 32, wait=0.1)
    assert page is None and store.calls == 2  # never got a slot, so never read
    store.release.set()
    bodies = await asyncio.gather(*api)
    assert store.most == 2 and all(b["steps"][0]["sample_count"] == 1 for b in bodies)


async def test_a_page_read_in_time_returns_the_api_body() -> None:
    state, store = SimpleNamespace(), SlowStore()
    store.release.set()
    body = await route.read_stopwatch(state, store, "p", "24h", False, 32, wait=5)
    assert body is not None and body["window"] == "24h" and body["plugin"] == "p" and body["truncated"] is False
