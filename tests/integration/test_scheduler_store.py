"""The scheduler against a real store with a controlled clock: `if_running: queue` with
`max_outstanding_polls`, `catch_up: run_once` after downtime, and jitter within its window."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import BUNDLED_PLUGINS
from pgtest import fresh_schema

from ductile.jobs import AttemptRecord, JobQuery
from ductile.lifecycle import Decision, Status
from ductile.scheduler.loop import Scheduler
from ductile.timeutil import from_text

T0 = datetime(2026, 11, 29, 10, 0, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
def rig_database(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """Both store backends (the contract suite): a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield {"path": "./data/ductile.db"}
        return
    with fresh_schema() as url:
        yield {"url": url}


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def scheduler(rig: Any, clock: Clock, draw: float = 0.0) -> Scheduler:
    sched = Scheduler(rig.store, rig.setup.registry, clock=clock, draw=lambda: draw)
    sched.load()
    return sched


def queued(rig: Any) -> list[Any]:
    return rig.store.list_jobs(JobQuery(limit=200)).jobs


async def test_if_running_queue_allows_up_to_max_outstanding_polls(rig):
    r = rig(
        {"tick": {"uses": "echo", "schedules": [{"every": "1m", "if_running": "queue"}], "max_outstanding_polls": 2}},
        roots=[BUNDLED_PLUGINS],
    )
    clock = Clock(T0)
    sched = scheduler(r, clock)
    [entry] = sched.entries
    fired = []
    for minute in range(4):
        clock.now = T0 + timedelta(minutes=minute)
        fired.append(await sched.fire(entry, clock.now))
    # nothing runs the jobs: two may wait, the third and fourth fires are skipped
    assert [f is not None for f in fired] == [True, True, False, False]
    assert len(queued(r)) == 2
    # once one finishes, the next fire is allowed again
    job = r.store.claim(now=clock.now)
    r.store.finish(job, AttemptRecord("success", "s", "e", 1.0), Decision(Status.SUCCEEDED), now=clock.now)
    clock.now = T0 + timedelta(minutes=4)
    assert await sched.fire(entry, clock.now) is not None


async def test_if_running_skip_allows_one(rig):
    r = rig({"tick": {"uses": "echo", "schedules": [{"every": "1m"}]}}, roots=[BUNDLED_PLUGINS])
    clock = Clock(T0)
    sched = scheduler(r, clock)
    [entry] = sched.entries
    assert await sched.fire(entry, T0) is not None
    assert await sched.fire(entry, T0 + timedelta(minutes=1)) is None
    assert entry.last_skip is not None and len(queued(r)) == 1


async def test_catch_up_run_once_fires_one_missed_slot_at_start(rig):
    plugins = {
        "late": {"uses": "echo", "schedules": [{"every": "1h", "catch_up": "run_once"}]},
        "skipper": {"uses": "echo", "schedules": [{"every": "1h"}]},
    }
    r = rig(plugins, roots=[BUNDLED_PLUGINS])
    clock = Clock(T0)
    first = scheduler(r, clock)
    for entry in first.entries:
        await first.fire(entry, T0)  # both fire at T0; next slot T0+1h is persisted
    # the gateway is down for 5 hours
    r.reopen()
    clock.now = T0 + timedelta(hours=5, minutes=10)
    second = scheduler(r, clock)
    plans = {e.instance: e for e in second.entries}
    # run_once: one catch-up fire now; skip: straight to the next slot on the grid
    assert plans["late"].fire_at == clock.now
    assert plans["skipper"].fire_at == T0 + timedelta(hours=6)
    await second.fire(plans["late"], clock.now)
    assert plans["late"].fire_at == T0 + timedelta(hours=6)  # back on the grid, missed slots not bunched


async def test_jitter_delays_each_fire_within_its_window(rig):
    r = rig(
        {"tick": {"uses": "echo", "schedules": [{"every": "1m", "jitter": "20s"}]}},
        roots=[BUNDLED_PLUGINS],
    )
    clock = Clock(T0)
    sched = scheduler(r, clock, draw=0.5)
    [entry] = sched.entries
    assert entry.fire_at == T0 + timedelta(seconds=10)
    await sched.fire(entry, entry.fire_at)
    assert entry.slot == T0 + timedelta(minutes=1)
    assert entry.fire_at == T0 + timedelta(minutes=1, seconds=10)
    state = r.store.schedule_states()[("tick", "default")]
    assert from_text(state.next_fire) == entry.fire_at and from_text(state.next_slot) == entry.slot
