"""The scheduler loop: sleep until the earliest fire time, check, enqueue, persist the next slot.

There is no tick. Each entry knows its next fire instant; the loop sleeps until the earliest one
(or until an operator action wakes it). At a fire it runs Ductile's per-entry order
(pipelines.md §9.1): status → window (§9.3) → gates (the circuit breaker) → `if_running` (§9.4) →
enqueue. A window that is closed moves only the *fire* time, to the first instant it opens
(computed, not polled), so the entry fires there, as Ductile's "first tick inside the window".

Firing and persisting the entry's next slot happen in one store transaction, so a crash between
them cannot double-fire a slot.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from ductile.events import EventHub
from ductile.jobs import NewJob, ScheduleState
from ductile.registry import Registry
from ductile.scheduler import catchup
from ductile.scheduler.due import fire_time, next_slot
from ductile.scheduler.entries import (
    ACTIVE,
    EXHAUSTED,
    ONE_SHOT_EXHAUSTED,
    PAUSED_INVALID,
    PAUSED_MANUAL,
    Entry,
    plan_entry,
)

__all__ = ["Entry", "ScheduleNotFound", "ScheduleNotRunnable", "Scheduler"]
from ductile.scheduler.shared import adopt
from ductile.scheduler.windows import allowed, next_allowed
from ductile.store import Store, StoreUnavailable
from ductile.store.offload import off_loop
from ductile.timeutil import to_text, utcnow

log = logging.getLogger(__name__)
STORE_RETRY = 5.0  # seconds before a fire the database refused is tried again
ONE_SHOT_RETRY = 5.0  # a one-shot skipped by a gate or if_running is tried again after this long
WINDOW_NEVER = timedelta(days=1)  # no opening within the horizon (cannot happen for a valid config)
CANCEL_REASON = "cancelled by scheduler (if_running=cancel)"
SCHEDULER = "scheduler"  # submitted_by of every scheduler job (runtime.md §3)

Gate = Callable[[str, str, datetime], str | None]  # (plugin, command, now) → None to allow, else a skip reason
Canceller = Callable[[str, str], Awaitable[Any]]  # (job_id, reason): Dispatcher.cancel


class ScheduleNotFound(LookupError):
    """No schedule entry by that plugin and id (the message names what exists)."""


class ScheduleNotRunnable(Exception):
    """Run now on an entry that cannot run (paused_invalid)."""


class Scheduler:
    def __init__(
        self,
        store: Store,
        registry: Registry,
        *,
        hub: EventHub | None = None,
        on_enqueue: Callable[[], None] = lambda: None,
        clock: Callable[[], datetime] = utcnow,
        draw: Callable[[], float] = random.random,
        gates: list[Gate] | None = None,
        cancel: Canceller | None = None,
    ):
        self.store = store
        self.registry = registry
        self.hub = hub or EventHub()
        self.on_enqueue = on_enqueue
        self.clock = clock
        self.draw = draw
        # §9.1 step 7, before if_running: the circuit breaker registers its gate here
        self.gates: list[Gate] = list(gates or [])
        self.cancel = cancel
        self.entries: list[Entry] = []
        self._wake: asyncio.Event | None = None

    # -- start-up -------------------------------------------------------------------------
    def load(self) -> None:
        """Build entries from config and persisted state, run `catch_up: run_all` slots, and
        persist the plan so it survives a crash."""
        persisted = self.store.schedule_states()
        now = self.clock()
        self.entries = []
        for name, instance in self.registry.instances.items():
            commands = instance.plugin.manifest.command_names
            for spec in instance.spec.schedules:
                entry = plan_entry(
                    name, spec, persisted.get((name, spec.id)), commands=commands, now=now, draw=self.draw()
                )
                self.entries.append(entry)
                if entry.status == PAUSED_INVALID:
                    log.warning(
                        "schedule entry cannot run",
                        extra={"plugin": name, "schedule_id": spec.id, "command": spec.command, "reason": entry.reason},
                    )
                if entry.catch_up_slots:
                    self._catch_up(entry, now)
                self.store.put_schedule_state(entry.state(now))

    def _catch_up(self, entry: Entry, now: datetime) -> None:
        """`run_all`: one job per missed slot, each with its own dedupe key (a restart half-way
        through finds the ones already queued or done and does not add them again)."""
        spec = entry.spec
        instance = self.registry.instances[entry.instance]
        since = entry.catch_up_slots[0] - timedelta(seconds=spec.every or 0)
        for slot in entry.catch_up_slots:
            result = self.store.enqueue(
                NewJob(
                    plugin=entry.instance,
                    command=spec.command,
                    payload=spec.payload or None,
                    submitted_by=SCHEDULER,
                    max_attempts=instance.spec.retry.max_attempts,
                    dedupe_key=catchup.dedupe_key(entry.instance, spec.command, spec.id, slot),
                ),
                now=now,
                dedupe_since=since,
            )
            if not result.created:
                continue
            entry.last_job_id = result.job_id
            self._scheduled(entry, result.job_id, schedule_id="catch_up", slot=to_text(slot))
        log.info(
            "schedule caught up",
            extra={"plugin": entry.instance, "schedule_id": spec.id, "slots": len(entry.catch_up_slots)},
        )
        entry.catch_up_slots = ()

    # -- the loop -------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Fire due entries until `stop`; call `load` first (the gateway does, so that
        GET /schedules has the plan before the first fire)."""
        self._wake = wake = asyncio.Event()
        while not stop.is_set():
            wake.clear()
            now = self.clock()
            blocked = False
            for entry in list(self.entries):
                if entry.due_any_time and entry.fire_at is not None and entry.fire_at <= now:
                    blocked = not await self._fire_or_keep(entry, now) or blocked
                    # Each fire is a database commit: between two, let the API and the dispatcher
                    # run (50 entries due at once on a slow database must not starve /healthz).
                    await asyncio.sleep(0)
            times = [e.fire_at for e in self.entries if e.due_any_time and e.fire_at is not None]
            delay = (min(times) - self.clock()).total_seconds() if times else 3600.0
            if blocked:
                delay = min(delay, STORE_RETRY)
            if delay > 0:
                await _first(stop, wake, min(delay, 3600.0))

    def sync(self, states: dict[tuple[str, str], ScheduleState]) -> bool:
        """Take pauses, resumes and slots written by other nodes (scheduler/shared.py) into the
        running entries; True (and the loop re-plans) when any changed."""
        changed = [e for e in self.entries if adopt(e, states.get((e.instance, e.spec.id)))]
        for entry in changed:
            log.info("schedule entry changed on another node", extra={**self._view(entry)})
        if changed:
            self.wake()
        return bool(changed)

    def wake(self) -> None:
        """Re-plan now (an operator paused, resumed or ran an entry)."""
        if self._wake is not None:
            self._wake.set()

    async def _fire_or_keep(self, entry: Entry, now: datetime) -> bool:
        """Fire; when the database cannot be written, keep the slot due (it fires once writes
        work again, like a slot missed while the gateway was down) and return False."""
        before = dataclasses.replace(entry)
        try:
            await self.fire(entry, now)
        except StoreUnavailable as exc:
            for name in ("slot", "fire_at", "last_fired", "last_skip", "last_skip_reason", "status", "reason"):
                setattr(entry, name, getattr(before, name))
            log.warning(
                "schedule not fired: database cannot be written; retrying",
                extra={"plugin": entry.instance, "schedule_id": entry.spec.id, "error": str(exc)},
            )
            return False
        return True

    async def fire(self, entry: Entry, now: datetime) -> str | None:
        """One due entry, in §9.1 order; returns the new job's id, or None when skipped."""
        spec = entry.spec
        if entry.status != ACTIVE:
            return None
        closed = allowed(spec, now)
        if closed is not None:
            # the slot stays; only the fire moves, to the first instant the window is open
            entry.fire_at = next_allowed(spec, now) or now + WINDOW_NEVER
            await self._skip(entry, now, closed, entry.slot)
            return None
        skipped_slot = entry.slot  # the slot a gate or if_running skips (before _advance moves past it)
        for gate in self.gates:
            reason = gate(entry.instance, spec.command, now)
            if reason is not None:
                self._advance(entry, now)
                await self._skip(entry, now, reason, skipped_slot)
                return None
        if spec.if_running == "cancel":
            await self._cancel_outstanding(entry)
            if entry.status != ACTIVE:  # removed by a config reload meanwhile (scheduler.reconcile)
                return None
        else:
            instance = self.registry.instances[entry.instance]
            limit = 1 if spec.if_running == "skip" else instance.spec.max_outstanding_polls
            active = await off_loop(self.store, self.store.count_active, entry.instance, spec.command, entry.key)
            if active >= limit:
                self._advance(entry, now)
                reason = "already_running" if spec.if_running == "skip" else "outstanding_limit"
                await self._skip(entry, now, reason, skipped_slot)
                return None
        return await self._enqueue(entry, now)

    def _advance(self, entry: Entry, now: datetime) -> None:
        """Past this slot: the next one on the grid; a one-shot is tried again shortly."""
        if entry.spec.one_shot:
            entry.fire_at = now + timedelta(seconds=ONE_SHOT_RETRY)
            return
        assert entry.slot is not None
        entry.slot = next_slot(entry.spec, entry.slot, now)
        entry.fire_at = fire_time(entry.spec, entry.slot, self.draw())

    async def _skip(self, entry: Entry, now: datetime, reason: str, slot: datetime | None) -> None:
        """Persist the entry's state, keep the skip itself (the dashboard's run strip reads it
        back after a restart, when the event below is long gone), then announce it."""
        entry.last_skip, entry.last_skip_reason = to_text(now), reason
        await off_loop(self.store, self.store.put_schedule_state, entry.state(now))
        slot = None if entry.spec.one_shot else slot
        await off_loop(
            self.store,
            self.store.record_schedule_skip,
            entry.instance,
            entry.spec.id,
            entry.spec.command,
            at=now,
            reason=reason,
            slot=slot,
        )
        data: dict[str, Any] = {
            "plugin": entry.instance,
            "schedule_id": entry.spec.id,
            "command": entry.spec.command,
            "reason": reason,
        }
        if entry.fire_at is not None:
            data["next_run_at"] = to_text(entry.fire_at)
        log.info("schedule skipped", extra=data)
        self.hub.publish("scheduler.skipped", data)

    async def _cancel_outstanding(self, entry: Entry) -> None:
        """O8: only jobs the scheduler submitted for this plugin+command; running ones are killed
        by the dispatcher and stay `dead`, queued ones never start."""
        outstanding = await off_loop(
            self.store, self.store.outstanding_scheduler_jobs, entry.instance, entry.spec.command
        )
        for job_id in outstanding:
            log.info(
                "cancelling outstanding scheduler job",
                extra={"job_id": job_id, "plugin": entry.instance, "schedule_id": entry.spec.id},
            )
            if self.cancel is not None:
                await self.cancel(job_id, CANCEL_REASON)
            else:  # no dispatcher (tests, tools): nothing is running here to kill
                await off_loop(self.store, self.store.cancel, job_id, reason=CANCEL_REASON, now=self.clock())

    async def _enqueue(self, entry: Entry, now: datetime) -> str | None:
        spec = entry.spec
        instance = self.registry.instances[entry.instance]
        due_at, slot = entry.fire_at, entry.slot
        before = dataclasses.replace(entry)
        entry.last_fired = to_text(now)
        if spec.one_shot:
            entry.status, entry.reason = EXHAUSTED, ONE_SHOT_EXHAUSTED
            entry.slot = entry.fire_at = None
        else:
            assert entry.slot is not None
            entry.slot = next_slot(spec, entry.slot, now)
            entry.fire_at = fire_time(spec, entry.slot, self.draw())
        result = await off_loop(
            self.store,
            self.store.enqueue,
            NewJob(
                plugin=entry.instance,
                command=spec.command,
                payload=spec.payload or None,
                submitted_by=SCHEDULER,
                max_attempts=instance.spec.retry.max_attempts,
                dedupe_key=entry.key,
            ),
            now=now,
            dedupe_since=None,
            enforce_dedupe=False,
            schedule_state=entry.state(now),
        )
        if not result.created:
            # PostgreSQL: the row refused the fire (paused on another node, or another node
            # fired this slot): nothing was queued; take the row's state instead.
            for name in ("slot", "fire_at", "last_fired", "status", "reason"):
                setattr(entry, name, getattr(before, name))
            states = await off_loop(self.store, self.store.schedule_states)
            if not adopt(entry, states.get((entry.instance, spec.id))):
                self._advance(entry, now)  # never retry the same refused slot in a loop
            log.info(
                "schedule not fired: its row changed on another node",
                extra={"plugin": entry.instance, "schedule_id": spec.id, "status": entry.status},
            )
            return None
        entry.last_job_id = result.job_id
        _log_queued(
            result.job_id,
            entry,
            slot=to_text(slot) if slot else None,
            due_at=to_text(due_at) if due_at else None,
        )
        self.hub.publish(
            "scheduler.fired",
            {
                "plugin": entry.instance,
                "schedule_id": spec.id,
                "command": spec.command,
                "due_at": to_text(due_at) if due_at else None,
                "job_id": result.job_id,
            },
        )
        self._scheduled(entry, result.job_id, schedule_id=spec.id)
        return result.job_id

    def _scheduled(self, entry: Entry, job_id: str, *, schedule_id: str, **extra: Any) -> None:
        """Ductile's `scheduler.scheduled` (catch-up jobs carry schedule_id "catch_up", §9.5)."""
        self.hub.publish(
            "scheduler.scheduled",
            {
                "job_id": job_id,
                "plugin": entry.instance,
                "command": entry.spec.command,
                "schedule_id": schedule_id,
                "submitted_by": SCHEDULER,
                **extra,
            },
        )
        self.hub.job_queued(job_id, entry.instance, entry.spec.command, SCHEDULER)
        self.on_enqueue()

    # -- operator actions (API, CLI, monitor) ---------------------------------------------
    def find(self, plugin: str, schedule_id: str) -> Entry:
        for entry in self.entries:
            if entry.instance == plugin and entry.spec.id == schedule_id:
                return entry
        mine = [e.spec.id for e in self.entries if e.instance == plugin]
        if mine:
            raise ScheduleNotFound(
                f"plugin {plugin!r} has no schedule {schedule_id!r} (its schedules: {', '.join(mine)})"
            )
        known = sorted({e.instance for e in self.entries})
        raise ScheduleNotFound(
            f"no schedules for plugin {plugin!r} (plugins with schedules: {', '.join(known) or 'none'})"
        )

    def pause(self, plugin: str, schedule_id: str, *, by: str, reason: str | None = None) -> tuple[Entry, bool]:
        """Stop firing until resumed; persisted with who and when. Returns (entry, changed):
        pausing a paused entry changes nothing (idempotent, the first pauser is kept)."""
        entry = self.find(plugin, schedule_id)
        if entry.status == PAUSED_MANUAL:
            return entry, False
        if entry.status != ACTIVE:
            raise ScheduleNotRunnable(
                f"schedule {plugin}/{schedule_id} is {entry.status} ({entry.reason}); only an active schedule can be paused"
            )
        now = self.clock()
        if not self._set_status(entry, PAUSED_MANUAL, reason or f"paused by {by}", by, now):
            return entry, False
        self.hub.publish("scheduler.paused", self._view(entry))
        log.info("schedule paused", extra={**self._view(entry)})
        self.wake()
        return entry, True

    def resume(self, plugin: str, schedule_id: str, *, by: str) -> tuple[Entry, bool]:
        """Back to active. Slots missed while paused are not run (use run now); an every/cron
        entry continues at its next slot after now, a one-shot whose time passed fires at once."""
        entry = self.find(plugin, schedule_id)
        if entry.status != PAUSED_MANUAL:
            return entry, False
        now = self.clock()
        if not entry.spec.one_shot and entry.slot is not None and entry.fire_at is not None and entry.fire_at <= now:
            entry.slot = next_slot(entry.spec, entry.slot, now)
            entry.fire_at = fire_time(entry.spec, entry.slot, self.draw())
        if not self._set_status(entry, ACTIVE, None, None, now):
            return entry, False
        self.hub.publish("scheduler.resumed", {**self._view(entry), "resumed_by": by})
        log.info("schedule resumed", extra={**self._view(entry), "resumed_by": by})
        self.wake()
        return entry, True

    def _set_status(self, entry: Entry, status: str, reason: str | None, by: str | None, now: datetime) -> bool:
        """Persist a pause (paused_manual) or a resume (active). On PostgreSQL only the row's
        status changes, and only from the other status (store/pg_schedules.py): False when another
        node got there first, and the entry takes the row instead."""
        at = to_text(now)
        conditional = getattr(self.store, "pause_schedule", None) is not None
        if conditional:
            key = (entry.instance, entry.spec.id)
            if status == PAUSED_MANUAL:
                assert reason is not None and by is not None
                done = self.store.pause_schedule(*key, command=entry.spec.command, reason=reason, by=by, at=at)  # type: ignore[attr-defined]
            else:
                slot, fire = (to_text(t) if t else None for t in (entry.slot, entry.fire_at))
                done = self.store.resume_schedule(*key, next_slot=slot, next_fire=fire, at=at)  # type: ignore[attr-defined]
            if not done:
                adopt(entry, self.store.schedule_states().get(key))
                return False
        entry.status, entry.reason = status, reason
        entry.paused_by, entry.paused_at = by, (at if by is not None else None)
        if not conditional:
            self.store.put_schedule_state(entry.state(now))
        return True

    def run_now(self, plugin: str, schedule_id: str, *, by: str) -> str:
        """One extra job now, whatever the entry's state, window, breaker or if_running (an
        operator asked for it explicitly); a paused_invalid entry cannot run. Its dedupe key is
        distinct, so it never collapses into (or blocks) the regular fire; the entry's next fire
        does not move."""
        entry = self.find(plugin, schedule_id)
        if entry.status == PAUSED_INVALID:
            raise ScheduleNotRunnable(f"schedule {plugin}/{schedule_id} cannot run: {entry.reason}")
        spec = entry.spec
        now = self.clock()
        instance = self.registry.instances[entry.instance]
        result = self.store.enqueue(
            NewJob(
                plugin=entry.instance,
                command=spec.command,
                payload=spec.payload or None,
                submitted_by=SCHEDULER,
                max_attempts=instance.spec.retry.max_attempts,
                dedupe_key=f"{entry.key}:run_now:{to_text(now)}",
            ),
            now=now,
            dedupe_since=None,
            enforce_dedupe=False,
        )
        _log_queued(result.job_id, entry, requested_by=by)
        self._scheduled(entry, result.job_id, schedule_id=spec.id, run_now=True, requested_by=by)
        return result.job_id

    def _view(self, entry: Entry) -> dict[str, Any]:
        return {
            "plugin": entry.instance,
            "schedule_id": entry.spec.id,
            "command": entry.spec.command,
            "status": entry.status,
            "reason": entry.reason,
            "paused_by": entry.paused_by,
            "paused_at": entry.paused_at,
            "next_run_at": to_text(entry.fire_at) if entry.fire_at else None,
        }


async def _first(stop: asyncio.Event, wake: asyncio.Event, timeout: float) -> None:
    """Sleep until `stop`, `wake` or the timeout, whichever comes first."""
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


def _log_queued(job_id: str, entry: Entry, **more: Any) -> None:
    """The `job queued` line of a scheduler-made job (what `did it run` is answered from), with the
    slot it fills or who asked for it."""
    log.info(
        "job queued",
        extra={
            "job_id": job_id,
            "plugin": entry.instance,
            "command": entry.spec.command,
            "attempt": 1,
            "status": "queued",
            "submitted_by": SCHEDULER,
            "schedule_id": entry.spec.id,
            **more,
        },
    )
