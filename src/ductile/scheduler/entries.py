"""Schedule entries: what the loop holds per schedule, and how one is planned at start-up.

`plan_entry` is a pure function of the spec, the persisted row and `now` (plus the jitter draw):
it decides the status (active, paused_manual, paused_invalid, exhausted — pipelines.md §9.6), the
next fire, and for `catch_up: run_all` which missed slots to enqueue. The loop does the I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ductile.config import ScheduleConfig
from ductile.jobs import ScheduleState
from ductile.scheduler import catchup, oneshot
from ductile.scheduler.due import fire_time, next_slot, plan_at_startup
from ductile.timeutil import from_text, to_text

ACTIVE = "active"
PAUSED_MANUAL = "paused_manual"
PAUSED_INVALID = "paused_invalid"
EXHAUSTED = "exhausted"
STATUSES = (ACTIVE, PAUSED_MANUAL, PAUSED_INVALID, EXHAUSTED)
ONE_SHOT_EXHAUSTED = "one_shot_exhausted"


@dataclass
class Entry:
    instance: str
    spec: ScheduleConfig
    slot: datetime | None  # the nominal time of the next run (None: nothing left to run)
    fire_at: datetime | None  # slot + jitter, or later while a window keeps it closed
    last_fired: str | None = None
    last_job_id: str | None = None
    last_skip: str | None = None
    last_skip_reason: str | None = None
    status: str = ACTIVE
    reason: str | None = None
    paused_by: str | None = None
    paused_at: str | None = None
    definition: str | None = None
    catch_up_slots: tuple[datetime, ...] = field(default=())  # run_all: enqueued by the loop at load

    @property
    def key(self) -> str:
        return f"{self.instance}:{self.spec.command}:{self.spec.id}"

    @property
    def due_any_time(self) -> bool:
        """Whether the loop should wake for this entry at `fire_at`."""
        return self.status == ACTIVE and self.fire_at is not None

    def state(self, now: datetime) -> ScheduleState:
        return ScheduleState(
            instance=self.instance,
            schedule_id=self.spec.id,
            next_slot=to_text(self.slot) if self.slot else None,
            next_fire=to_text(self.fire_at) if self.fire_at else None,
            last_fired=self.last_fired,
            last_job_id=self.last_job_id,
            status=self.status,
            reason=self.reason,
            paused_by=self.paused_by,
            paused_at=self.paused_at,
            command=self.spec.command,
            definition=self.definition,
            updated_at=to_text(now),
        )


def invalid_reason(spec: ScheduleConfig, commands: tuple[str, ...] | list[str]) -> str | None:
    """§9.1 step 3. `config check` already refuses both, so at run time this is the scheduler's own
    guard (an entry it cannot run is shown `paused_invalid`, never silently dropped)."""
    if spec.command == "handle":
        return "scheduled_handle_disallowed"
    if spec.command not in commands:
        return "command_not_supported"
    return None


def plan_entry(
    instance: str,
    spec: ScheduleConfig,
    state: ScheduleState | None,
    *,
    commands: tuple[str, ...] | list[str],
    now: datetime,
    draw: float,
) -> Entry:
    """The entry as it resumes after a (re)start."""
    if state is not None and state.command not in (None, spec.command):
        # §9.1 step 1: another command is another job: the old plan and pause no longer apply
        state = None
    entry = Entry(instance, spec, None, None)
    if state is not None:
        entry.last_fired, entry.last_job_id = state.last_fired, state.last_job_id
        if state.status == PAUSED_MANUAL:
            entry.status, entry.reason = PAUSED_MANUAL, state.reason
            entry.paused_by, entry.paused_at = state.paused_by, state.paused_at
    invalid = invalid_reason(spec, commands)
    if invalid is not None:
        entry.status, entry.reason = PAUSED_INVALID, invalid
        return entry
    if spec.one_shot:
        return _plan_one_shot(entry, state, now)
    if spec.catch_up == "run_all" and spec.every is not None and entry.status == ACTIVE and state is not None:
        base = _catch_up_base(spec, state)
        if base is not None:
            plan = catchup.run_all(base, spec.every, now)
            if plan.slots:
                entry.catch_up_slots = plan.slots
                entry.last_fired = to_text(plan.last_fired)
                upcoming = next_slot(spec, plan.last_fired, now)
                entry.slot, entry.fire_at = upcoming, fire_time(spec, upcoming, draw)
                return entry
    plan = plan_at_startup(
        spec,
        slot=from_text(state.next_slot) if state and state.next_slot else None,
        fire_at=from_text(state.next_fire) if state and state.next_fire else None,
        now=now,
        draw=draw,
    )
    entry.slot, entry.fire_at = plan.slot, plan.fire_at
    return entry


def _catch_up_base(spec: ScheduleConfig, state: ScheduleState) -> datetime | None:
    """§9.5: `last_fired_at`, else (our rows always carry the next slot) the slot before the next."""
    if state.last_fired:
        return from_text(state.last_fired)
    if state.next_slot and spec.every is not None:
        return from_text(state.next_slot) - timedelta(seconds=spec.every)
    return None


def _plan_one_shot(entry: Entry, state: ScheduleState | None, now: datetime) -> Entry:
    """The run time is read back when it was computed for this same definition; an exhausted
    one-shot stays exhausted unless its at/after changed (O13)."""
    spec = entry.spec
    definition = oneshot.definition(spec)
    entry.definition = definition
    if state is not None and not oneshot.rearm(spec, state.definition):
        if state.status == EXHAUSTED:
            entry.status, entry.reason = EXHAUSTED, ONE_SHOT_EXHAUSTED
            return entry
        if state.next_slot:
            entry.slot = entry.fire_at = from_text(state.next_slot)
            return entry
    entry.slot = entry.fire_at = oneshot.run_time(spec, now)
    return entry
