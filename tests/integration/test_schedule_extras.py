"""Schedule extras (pipelines.md §9) on a real store and real plugin processes, with a controlled clock:
one-shots (`at`, `after`, O13 re-arm), windows across midnight and DST, `not_on`, gates before
`if_running`, `if_running: cancel` (O8: only scheduler jobs, processes killed), `catch_up: run_all`
after a stop, and pause/resume/run-now persisted across a reopen (a new gateway on the same file).
Every test runs on both backends: a SQLite file and a fresh PostgreSQL schema (entry statuses,
pauses and one-shot definitions are rows of schedule_state on either)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from conftest import make_plugin, wait_for
from pgtest import fresh_schema

from ductile.events import EventHub
from ductile.jobs import JobQuery, ScheduleState
from ductile.lifecycle import Status
from ductile.scheduler.cancel import graceful_canceller
from ductile.scheduler.loop import CANCEL_REASON, ScheduleNotFound, ScheduleNotRunnable, Scheduler
from ductile.timeutil import to_text
from integration.conftest import TEST_PLUGINS, alive

T0 = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)  # a Monday
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture(params=["sqlite", "postgres"])
def rig_database(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
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


def make(rig: Any, clock: Clock, **kw: Any) -> Scheduler:
    sched = Scheduler(rig.store, rig.setup.registry, clock=clock, draw=lambda: 0.0, **kw)
    sched.load()
    return sched


def jobs(rig: Any) -> list[Any]:
    return rig.store.list_jobs(JobQuery(limit=500)).jobs


def recorder(schedules: list[dict[str, Any]], **config: Any) -> dict[str, Any]:
    return {"uses": "recorder", "schedules": schedules, "config": config}


def events(hub: EventHub) -> Any:
    sub = hub.subscribe()
    return lambda: [(e.type, e.data) for e in sub.drain(1000)]


async def test_at_in_the_past_fires_once_then_exhausted_and_stays_so_after_restart(rig):
    r = rig({"once": recorder([{"at": "2026-06-01T11:59:00Z"}])}, roots=[TEST_PLUGINS])
    clock = Clock(T0)
    sched = make(r, clock)
    [entry] = sched.entries
    assert entry.fire_at is not None and entry.fire_at <= T0  # an `at` in the past fires on the first check
    assert await sched.fire(entry, T0) is not None
    assert (entry.status, entry.reason, entry.fire_at) == ("exhausted", "one_shot_exhausted", None)
    row = r.store.schedule_states()[("once", "default")]
    assert (row.status, row.reason, row.next_slot) == ("exhausted", "one_shot_exhausted", None)
    r.reopen()
    clock.now = T0 + timedelta(hours=1)
    again = make(r, clock)
    assert again.entries[0].status == "exhausted" and not again.entries[0].due_any_time
    assert len(jobs(r)) == 1


async def test_a_changed_at_rearms_an_exhausted_one_shot(rig, tmp_path):
    r = rig({"once": recorder([{"at": "2026-06-01T11:59:00Z"}])}, roots=[TEST_PLUGINS])
    clock = Clock(T0)
    sched = make(r, clock)
    await sched.fire(sched.entries[0], T0)
    r.close()
    rig({"once": recorder([{"at": "2026-06-02T08:00:00+02:00"}])}, roots=[TEST_PLUGINS])  # same directory
    r.open()
    rearmed = make(r, clock).entries[0]
    assert rearmed.status == "active" and rearmed.fire_at == datetime(2026, 6, 2, 6, 0, tzinfo=UTC)


async def test_after_is_counted_from_the_first_start_and_not_shifted_by_a_restart(rig):
    r = rig({"later": recorder([{"after": "2s"}])}, roots=[TEST_PLUGINS])
    clock = Clock(T0)
    assert make(r, clock).entries[0].fire_at == T0 + timedelta(seconds=2)
    r.reopen()
    clock.now = T0 + timedelta(seconds=1)
    sched = make(r, clock)
    [entry] = sched.entries
    assert entry.fire_at == T0 + timedelta(seconds=2)
    clock.now = entry.fire_at
    assert await sched.fire(entry, clock.now) is not None and entry.status == "exhausted"


async def test_window_across_midnight_skips_then_fires_at_the_window_start(rig):
    r = rig(
        {"night": recorder([{"every": "1s", "only_between": "22:00-06:00", "timezone": "UTC"}])},
        roots=[TEST_PLUGINS],
    )
    clock = Clock(T0)  # 12:00
    hub = EventHub()
    seen = events(hub)
    sched = make(r, clock, hub=hub)
    [entry] = sched.entries
    slot = entry.slot
    assert await sched.fire(entry, T0) is None
    assert entry.slot == slot  # the slot is not moved...
    assert entry.fire_at == datetime(2026, 6, 1, 22, 0, tzinfo=UTC)  # ...the entry sleeps until the window opens
    [(_kind, data)] = [e for e in seen() if e[0] == "scheduler.skipped"]
    assert data == {
        "plugin": "night",
        "schedule_id": "default",
        "command": "poll",
        "reason": "outside_time_window",
        "next_run_at": "2026-06-01T22:00:00.000000Z",
    }
    clock.now = datetime(2026, 6, 1, 23, 30, tzinfo=UTC)
    assert await sched.fire(entry, clock.now) is not None
    assert entry.fire_at == clock.now + timedelta(seconds=1)  # every 1s from there, slots missed meanwhile skipped
    assert r.store.schedule_states()[("night", "default")].status == "active"


async def test_window_on_the_dst_change_days_in_berlin(rig):
    # hourly with a 02:00-03:30 Berlin window. Spring forward (2026-03-29): 02:00-03:00 does not exist,
    # the window opens at the jump (03:00 CEST = 01:00 UTC). Fall back (2026-10-25): it opens at the
    # first 02:00 (CEST, 00:00 UTC).
    r = rig(
        {
            "dst": {
                **recorder(
                    [{"every": "1h", "only_between": "02:00-03:30", "timezone": "Europe/Berlin", "if_running": "queue"}]
                ),
                "max_outstanding_polls": 5,
            }
        },
        roots=[TEST_PLUGINS],
    )
    for noon, opens in (
        (datetime(2026, 3, 28, 12, 0, tzinfo=UTC), datetime(2026, 3, 29, 1, 0, tzinfo=UTC)),
        (datetime(2026, 10, 24, 12, 0, tzinfo=UTC), datetime(2026, 10, 25, 0, 0, tzinfo=UTC)),
    ):
        clock = Clock(noon)
        sched = Scheduler(r.store, r.setup.registry, clock=clock, draw=lambda: 0.0)
        sched.load()
        [entry] = sched.entries
        entry.slot = entry.fire_at = noon
        assert await sched.fire(entry, noon) is None
        assert entry.fire_at == opens
        assert await sched.fire(entry, opens) is not None
        local = opens.astimezone(BERLIN)
        assert (local.hour, local.minute) == ((3, 0) if opens.month == 3 else (2, 0))


async def test_not_on_today_skips_with_the_day_reason(rig):
    r = rig({"weekdays": recorder([{"every": "1m", "not_on": ["mon"]}])}, roots=[TEST_PLUGINS])
    clock = Clock(T0)  # Monday
    hub = EventHub()
    seen = events(hub)
    sched = make(r, clock, hub=hub)
    [entry] = sched.entries
    assert await sched.fire(entry, T0) is None
    assert entry.fire_at == datetime(2026, 6, 2, 0, 0, tzinfo=UTC)  # Tuesday 00:00 UTC
    assert [d["reason"] for k, d in seen() if k == "scheduler.skipped"] == ["outside_day_constraint"]


async def test_gates_run_before_if_running_and_skip_with_their_reason(rig):
    r = rig({"gated": recorder([{"every": "1m"}])}, roots=[TEST_PLUGINS])
    clock = Clock(T0)
    hub = EventHub()
    seen = events(hub)
    asked: list[tuple[str, str, datetime]] = []

    def breaker(plugin: str, command: str, now: datetime) -> str | None:
        asked.append((plugin, command, now))
        return "circuit_open" if len(asked) == 1 else None

    sched = make(r, clock, hub=hub, gates=[breaker])
    [entry] = sched.entries
    assert await sched.fire(entry, T0) is None
    assert asked == [("gated", "poll", T0)] and entry.fire_at == T0 + timedelta(minutes=1)
    clock.now = T0 + timedelta(minutes=1)
    assert await sched.fire(entry, clock.now) is not None
    assert [d["reason"] for k, d in seen() if k == "scheduler.skipped"] == ["circuit_open"]


async def test_if_running_cancel_kills_only_scheduler_jobs_and_they_stay_dead(rig, tmp_path):
    r = rig({"slow": recorder([{"every": "1m", "if_running": "cancel"}], sleep_s=30)}, roots=[TEST_PLUGINS])
    clock = Clock(T0)
    sched = make(r, clock, cancel=r.dispatcher.cancel)
    [entry] = sched.entries
    old = await sched.fire(entry, T0)
    by_api = r.submit("slow", "poll")  # not the scheduler's: O8 leaves it alone
    stop = asyncio.Event()
    task = asyncio.create_task(r.dispatcher.run(stop))
    try:
        pids = await asyncio.to_thread(
            wait_for,
            lambda: r.store.running_pids() if len(r.store.running_pids()) == 2 else None,
            20,
            0.05,
            "both running",
        )
        old_pid = pids[old]
        clock.now = T0 + timedelta(minutes=1)
        new = await sched.fire(entry, clock.now)
        assert new is not None and new != old
        dead = r.store.get_job(old)
        assert dead.status is Status.DEAD and dead.last_error == CANCEL_REASON
        await asyncio.to_thread(wait_for, lambda: not alive(old_pid), 10, 0.05, "cancelled process to be gone")
        assert r.store.get_job(by_api).status in (Status.QUEUED, Status.RUNNING)  # untouched
        assert r.store.get_job(new).status in (Status.QUEUED, Status.RUNNING)
        transitions = r.store.transitions(old)
        assert transitions[-1].reason == CANCEL_REASON
    finally:
        stop.set()
        await task
        for job_id in list(r.dispatcher.running):
            await r.dispatcher.cancel(job_id, "test over")
        await r.dispatcher.drain(1.0)
    assert r.store.get_job(old).status is Status.DEAD  # a late completion did not overwrite it


async def test_catch_up_run_all_after_a_stop_enqueues_each_missed_slot_once(rig):
    r = rig({"minutely": recorder([{"every": "1m", "catch_up": "run_all"}])}, roots=[TEST_PLUGINS])
    last = T0 - timedelta(minutes=5, seconds=10)
    r.store.put_schedule_state(
        ScheduleState(
            "minutely",
            "default",
            to_text(last + timedelta(minutes=1)),
            to_text(last + timedelta(minutes=1)),
            to_text(last),
            None,
            command="poll",
        )
    )
    clock = Clock(T0)
    hub = EventHub()
    seen = events(hub)
    sched = make(r, clock, hub=hub)
    keys = sorted(j.dedupe_key for j in jobs(r))
    assert keys == [f"minutely:poll:default:catchup:{to_text(last + timedelta(minutes=i))[:19]}Z" for i in range(1, 6)]
    scheduled = [d for k, d in seen() if k == "scheduler.scheduled"]
    assert len(scheduled) == 5 and {d["schedule_id"] for d in scheduled} == {"catch_up"}
    [entry] = sched.entries
    assert entry.fire_at == last + timedelta(minutes=6)  # next slot on the grid, after now
    row = r.store.schedule_states()[("minutely", "default")]
    assert row.last_fired == to_text(last + timedelta(minutes=5))
    # a crash before that row was written, then a restart: the per-slot keys stop duplicates
    r.store.put_schedule_state(ScheduleState("minutely", "default", None, None, to_text(last), None, command="poll"))
    r.reopen()
    make(r, clock)
    assert len(jobs(r)) == 5


async def test_pause_survives_a_reopen_resume_moves_on_and_run_now_ignores_pause(rig):
    r = rig({"tick": recorder([{"id": "t", "every": "1m"}])}, roots=[TEST_PLUGINS])
    clock = Clock(T0)
    hub = EventHub()
    seen = events(hub)
    sched = make(r, clock, hub=hub)
    [entry] = sched.entries
    _, changed = sched.pause("tick", "t", by="ops", reason="maintenance")
    assert changed and entry.status == "paused_manual" and not entry.due_any_time
    again, changed = sched.pause("tick", "t", by="someone-else")
    assert not changed and again.paused_by == "ops"  # idempotent: the first pauser is kept
    assert await sched.fire(entry, T0) is None and jobs(r) == []
    [(kind, data)] = seen()
    assert kind == "scheduler.paused" and data == {
        "plugin": "tick",
        "schedule_id": "t",
        "command": "poll",
        "status": "paused_manual",
        "reason": "maintenance",
        "paused_by": "ops",
        "paused_at": to_text(T0),
        "next_run_at": to_text(T0),
    }
    r.reopen()
    clock.now = T0 + timedelta(minutes=10)
    sched = make(r, clock)
    [entry] = sched.entries
    assert (entry.status, entry.reason, entry.paused_by, entry.paused_at) == (
        "paused_manual",
        "maintenance",
        "ops",
        to_text(T0),
    )
    job_id = sched.run_now("tick", "t", by="ops")  # decided: runs while paused
    [job] = jobs(r)
    assert job.job_id == job_id and job.submitted_by == "scheduler"
    assert job.dedupe_key.startswith("tick:poll:t:run_now:") and entry.status == "paused_manual"
    _, changed = sched.resume("tick", "t", by="ops")
    assert changed and entry.status == "active" and entry.fire_at is not None and entry.fire_at > clock.now
    assert r.store.schedule_states()[("tick", "t")].status == "active"
    with pytest.raises(ScheduleNotFound, match="its schedules: t"):
        sched.pause("tick", "nope", by="ops")
    with pytest.raises(ScheduleNotFound, match="plugins with schedules: tick"):
        sched.run_now("ghost", "t", by="ops")


async def test_exhausted_cannot_be_paused_but_can_run_now(rig):
    r = rig({"once": recorder([{"at": "2026-06-01T11:00:00Z"}])}, roots=[TEST_PLUGINS])
    clock = Clock(T0)
    sched = make(r, clock)
    await sched.fire(sched.entries[0], T0)
    with pytest.raises(ScheduleNotRunnable, match="exhausted"):
        sched.pause("once", "default", by="ops")
    assert sched.run_now("once", "default", by="ops")
    assert sched.entries[0].status == "exhausted"


async def test_if_running_skip_and_queue_publish_their_reasons(rig):
    r = rig(
        {
            "one": recorder([{"every": "1m"}]),
            "two": {**recorder([{"every": "1m", "if_running": "queue"}]), "max_outstanding_polls": 2},
        },
        roots=[TEST_PLUGINS],
    )
    clock = Clock(T0)
    hub = EventHub()
    seen = events(hub)
    sched = make(r, clock, hub=hub)
    one, two = sched.entries
    for minute in range(3):
        clock.now = T0 + timedelta(minutes=minute)
        await sched.fire(one, clock.now)
        await sched.fire(two, clock.now)
    skips = [(d["plugin"], d["reason"], d["next_run_at"]) for k, d in seen() if k == "scheduler.skipped"]
    later = to_text(T0 + timedelta(minutes=2) + timedelta(minutes=1))
    assert skips == [
        ("one", "already_running", to_text(T0 + timedelta(minutes=2))),
        ("one", "already_running", later),
        ("two", "outstanding_limit", later),
    ]


STUBBORN = """\
#!/usr/bin/env python3
import json, os, signal, sys, time
req = json.load(sys.stdin)
config = req.get("config") or {}
base = os.path.join(config["dir"], req["job_id"])
def term(*_):
    open(base + ".term", "w").close()
    if config.get("polite"):
        print(json.dumps({"status": "ok", "result": "stopped politely"}))
        sys.stdout.flush()
        sys.exit(0)
signal.signal(signal.SIGTERM, term)
with open(base + ".pid", "w") as handle:
    handle.write(str(os.getpid()))
while True:
    time.sleep(0.05)
"""


@pytest.mark.parametrize("polite", [True, False], ids=["exits-on-sigterm", "ignores-sigterm"])
async def test_cancel_sends_sigterm_first_then_sigkill_after_the_grace(rig, tmp_path, polite):
    make_plugin(tmp_path / "plugins", "stubborn", STUBBORN, extra={"config_keys": {"optional": ["dir", "polite"]}})
    marks = tmp_path / "marks"
    marks.mkdir()
    r = rig(
        {
            "stubborn": {
                "schedules": [{"every": "1m", "if_running": "cancel"}],
                "config": {"dir": str(marks), "polite": polite},
            }
        }
    )
    clock = Clock(T0)
    sched = make(
        r, clock, cancel=graceful_canceller(r.store, r.dispatcher, grace=10.0 if polite else 2.0)
    )  # a deadline for the polite one
    [entry] = sched.entries
    old = await sched.fire(entry, T0)
    stop = asyncio.Event()
    task = asyncio.create_task(r.dispatcher.run(stop))
    try:
        pid_file = marks / f"{old}.pid"
        # the plugin creates the file before it writes its pid: wait for the digits, not the name
        await asyncio.to_thread(
            wait_for, lambda: pid_file.exists() and pid_file.read_text().strip(), 20, 0.05, "the plugin's pid"
        )
        pid = int(pid_file.read_text())
        clock.now = T0 + timedelta(minutes=1)
        assert await sched.fire(entry, clock.now) is not None
        assert (marks / f"{old}.term").exists()  # SIGTERM came first, whatever happened next
        await asyncio.to_thread(wait_for, lambda: not alive(pid), 10, 0.05, "the process to be gone")
        job = r.store.get_job(old)
        # a plugin that answered `ok` on SIGTERM did not turn the cancelled job into a success
        assert job.status is Status.DEAD and job.last_error == CANCEL_REASON
        [attempt] = r.store.attempts(old)
        assert attempt.outcome == "cancelled"
    finally:
        stop.set()
        await task
        for job_id in list(r.dispatcher.running):
            await r.dispatcher.cancel(job_id, "test over")
        await r.dispatcher.drain(1.0)


async def test_the_loop_sleeps_until_the_window_opens_instead_of_polling(rig):
    r = rig({"night": recorder([{"every": "1s", "only_between": "22:00-06:00"}])}, roots=[TEST_PLUGINS])
    clock = Clock(T0)  # 12:00 UTC and it stays there: a polling loop would skip again and again
    hub = EventHub()
    seen = events(hub)
    sched = make(r, clock, hub=hub)
    stop = asyncio.Event()
    task = asyncio.create_task(sched.run(stop))
    got: list[Any] = []
    try:
        for _ in range(500):
            got += seen()
            if got:
                break
            await asyncio.sleep(0.01)
        for _ in range(30):  # give a busy loop plenty of chances to show itself
            await asyncio.sleep(0.01)
        got += seen()
        assert [k for k, _ in got] == ["scheduler.skipped"]  # once, then asleep until 22:00
        assert sched.entries[0].fire_at == datetime(2026, 6, 1, 22, 0, tzinfo=UTC)
        clock.now = datetime(2026, 6, 1, 22, 0, tzinfo=UTC)
        sched.wake()  # stands in for the sleep ending at 22:00
        for _ in range(500):
            if jobs(r):
                break
            await asyncio.sleep(0.01)
        assert len(jobs(r)) == 1
    finally:
        stop.set()
        await task
