"""scheduler/oneshot.py, catchup.py and entries.plan_entry: one-shot run times (persisted, re-armed
on a changed definition, O13), catch_up run_all arithmetic and keys, entry statuses. Pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from ductile.config import ScheduleConfig
from ductile.jobs import ScheduleState
from ductile.scheduler import catchup, oneshot
from ductile.scheduler.entries import plan_entry
from ductile.timeutil import to_text

T0 = datetime(2026, 11, 29, 10, 0, 0, tzinfo=UTC)
POLL = ("poll", "handle")


def state(**kw) -> ScheduleState:
    base = {"instance": "p", "schedule_id": "default", "next_slot": None, "next_fire": None}
    return ScheduleState(**{**base, "last_fired": None, "last_job_id": None, "command": "poll", **kw})


def plan(spec: ScheduleConfig, st_: ScheduleState | None, now: datetime = T0, commands=POLL):
    return plan_entry("p", spec, st_, commands=commands, now=now, draw=0.0)


def test_at_with_offset_is_one_instant():
    spec = ScheduleConfig(at="2026-06-01T07:30:00+10:00")
    assert oneshot.run_time(spec, T0) == datetime(2026, 5, 31, 21, 30, tzinfo=UTC)
    assert oneshot.definition(spec) == "at:2026-06-01T07:30:00+10:00"
    assert oneshot.definition(ScheduleConfig(at="2026-05-31T21:30:00Z")) == "at:2026-05-31T21:30:00+00:00"


def test_after_counts_from_the_first_evaluation_and_restarts_do_not_shift_it():
    spec = ScheduleConfig(after="2s")
    first = plan(spec, None)
    assert first.fire_at == T0 + timedelta(seconds=2) and first.definition == "after:2"
    # persisted, then a restart 1 s later reads it back instead of counting again
    later = plan(spec, first.state(T0), now=T0 + timedelta(seconds=1))
    assert later.fire_at == T0 + timedelta(seconds=2) and later.status == "active"


def test_exhausted_stays_exhausted_unless_the_definition_changed():
    spec = ScheduleConfig(after="2s")
    done = state(status="exhausted", reason="one_shot_exhausted", definition="after:2")
    again = plan(spec, done, now=T0 + timedelta(days=3))
    assert (again.status, again.reason, again.fire_at) == ("exhausted", "one_shot_exhausted", None)
    # O13: another value re-arms it, counted from this evaluation
    rearmed = plan(ScheduleConfig(after="5s"), done, now=T0 + timedelta(days=3))
    assert rearmed.status == "active" and rearmed.fire_at == T0 + timedelta(days=3, seconds=5)
    moved = plan(
        ScheduleConfig(at="2027-01-01T00:00:00Z"), state(status="exhausted", definition="at:2026-01-01T00:00:00+00:00")
    )
    assert moved.status == "active" and moved.fire_at == datetime(2027, 1, 1, tzinfo=UTC)


def test_an_at_in_the_past_is_due_at_once():
    entry = plan(ScheduleConfig(at="2026-11-29T09:59:00Z"), None)
    assert entry.fire_at is not None and entry.fire_at <= T0


def test_statuses_invalid_and_paused_survive_planning():
    assert plan(ScheduleConfig(every="1m", command="sync"), None).reason == "command_not_supported"
    handle = ScheduleConfig.model_construct(id="h", command="handle", every=60.0, payload={})
    assert plan(handle, None).reason == "scheduled_handle_disallowed"
    paused = state(
        status="paused_manual",
        reason="maintenance",
        paused_by="ops",
        paused_at=to_text(T0),
        next_slot=to_text(T0 + timedelta(minutes=1)),
        next_fire=to_text(T0 + timedelta(minutes=1)),
    )
    entry = plan(ScheduleConfig(every="1m"), paused)
    assert (entry.status, entry.reason, entry.paused_by) == ("paused_manual", "maintenance", "ops")
    # §9.1 step 1: a changed command starts the entry over (its pause and plan belonged to the old one)
    other = plan(ScheduleConfig(every="1m", command="handle2"), paused, commands=("poll", "handle2"))
    assert other.status == "active" and other.fire_at == T0


def test_run_all_scenario_20_five_missed_minutes():
    base = T0 - timedelta(minutes=5, seconds=10)
    assert catchup.missed(base, 60, T0) == 5
    plan_ = catchup.run_all(base, 60, T0)
    assert plan_.slots == tuple(base + timedelta(minutes=i) for i in range(1, 6))
    assert plan_.last_fired == base + timedelta(minutes=5)
    key = catchup.dedupe_key("p", "poll", "default", plan_.slots[0])
    assert key == "p:poll:default:catchup:2026-11-29T09:55:50Z"


def test_run_all_planned_at_startup_and_capped():
    spec = ScheduleConfig(every="1m", catch_up="run_all")
    entry = plan(spec, state(last_fired=to_text(T0 - timedelta(minutes=5, seconds=10))))
    assert len(entry.catch_up_slots) == 5
    assert entry.slot == T0 + timedelta(seconds=50)  # base + 6 min: back on the grid, in the future
    long_gone = plan(spec, state(last_fired=to_text(T0 - timedelta(days=2))))
    assert len(long_gone.catch_up_slots) == catchup.RUN_ALL_CAP and long_gone.slot is not None and long_gone.slot > T0
    fresh = plan(spec, None)  # nothing fired before: nothing to catch up
    assert fresh.catch_up_slots == () and fresh.fire_at == T0


@given(st.integers(1, 86400), st.integers(0, 10**7))
def test_missed_matches_the_formula(interval: int, elapsed: int):
    base = T0
    now = base + timedelta(seconds=elapsed)
    n = catchup.missed(base, interval, now)
    # exactly the slots base + i·interval with i ≥ 1 that are ≤ now
    assert n == 0 or base + timedelta(seconds=interval * n) <= now
    assert base + timedelta(seconds=interval * (n + 1)) > now
