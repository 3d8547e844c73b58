"""The scheduler loop: sleep until the earliest fire time, enqueue, persist the next slot.

Firing and persisting the schedule's next slot happen in one store transaction, so a crash
between them cannot double-fire a slot.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from ductile.config import ScheduleConfig
from ductile.events import EventHub
from ductile.jobs import NewJob, ScheduleState
from ductile.registry import Registry
from ductile.scheduler.due import fire_time, next_slot, plan_at_startup
from ductile.store import Store, StoreUnavailable
from ductile.timeutil import from_text, to_text, utcnow

log = logging.getLogger(__name__)
STORE_RETRY = 5.0  # seconds before a fire the database refused is tried again


@dataclass
class Entry:
    instance: str
    spec: ScheduleConfig
    slot: datetime
    fire_at: datetime
    last_fired: str | None = None
    last_job_id: str | None = None
    last_skip: str | None = None

    @property
    def key(self) -> str:
        return f"{self.instance}:{self.spec.command}:{self.spec.id}"


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
        gate: Callable[[str, str, datetime], str | None] | None = None,
    ):
        self.store = store
        self.registry = registry
        self.hub = hub or EventHub()
        self.on_enqueue = on_enqueue
        self.clock = clock
        self.draw = draw
        self.gate = gate  # the circuit breaker (pipelines.md §8): a reason to skip this run, or None
        self.entries: list[Entry] = []
        # seconds between fire time and enqueue of the latest fires (bounded: the gateway runs for months)

    def load(self) -> None:
        """Build entries from config and persisted state; persist the plan so it survives a crash."""
        persisted = self.store.schedule_states()
        now = self.clock()
        self.entries = []
        for name, instance in self.registry.instances.items():
            for spec in instance.spec.schedules:
                if instance.command(spec.command) is None:
                    continue  # reported by config check; never fires
                state = persisted.get((name, spec.id))
                plan = plan_at_startup(
                    spec,
                    slot=from_text(state.next_slot) if state and state.next_slot else None,
                    fire_at=from_text(state.next_fire) if state and state.next_fire else None,
                    now=now,
                    draw=self.draw(),
                )
                entry = Entry(name, spec, plan.slot, plan.fire_at)
                if state:
                    entry.last_fired, entry.last_job_id = state.last_fired, state.last_job_id
                self.entries.append(entry)
                self.store.put_schedule_state(self._state(entry))

    def _state(self, entry: Entry) -> ScheduleState:
        return ScheduleState(
            instance=entry.instance,
            schedule_id=entry.spec.id,
            next_slot=to_text(entry.slot),
            next_fire=to_text(entry.fire_at),
            last_fired=entry.last_fired,
            last_job_id=entry.last_job_id,
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Fire due entries until `stop`; call `load` first (the gateway does, so that
        GET /schedules has the plan before the first fire)."""
        while not stop.is_set():
            now = self.clock()
            blocked = False
            for entry in self.entries:
                if entry.fire_at <= now:
                    blocked = not self._fire_or_keep(entry, now) or blocked
            if not self.entries:
                await stop.wait()
                return
            delay = (min(e.fire_at for e in self.entries) - self.clock()).total_seconds()
            if blocked:
                delay = min(delay, STORE_RETRY)
            if delay > 0:
                try:
                    await asyncio.wait_for(stop.wait(), timeout=min(delay, 3600.0))
                except TimeoutError:
                    pass

    def _fire_or_keep(self, entry: Entry, now: datetime) -> bool:
        """Fire; when the database cannot be written, keep the slot due (it fires once writes
        work again, like a slot missed while the gateway was down) and return False."""
        before = dataclasses.replace(entry)
        try:
            self.fire(entry, now)
        except StoreUnavailable as exc:
            entry.slot, entry.fire_at = before.slot, before.fire_at
            entry.last_fired, entry.last_skip = before.last_fired, before.last_skip
            log.warning(
                "schedule not fired: database cannot be written; retrying",
                extra={"plugin": entry.instance, "schedule_id": entry.spec.id, "error": str(exc)},
            )
            return False
        return True

    def fire(self, entry: Entry, now: datetime) -> str | None:
        """Enqueue this slot unless `if_running` forbids it; advance to the next slot either way."""
        spec = entry.spec
        instance = self.registry.instances[entry.instance]
        limit = 1 if spec.if_running == "skip" else instance.spec.max_outstanding_polls
        active = self.store.count_active(entry.instance, spec.command, entry.key)
        upcoming = next_slot(spec, entry.slot, now)
        fired_at = to_text(now)
        due_at, slot = entry.fire_at, entry.slot
        entry.slot, entry.fire_at = upcoming, fire_time(spec, upcoming, self.draw())
        data = {"plugin": entry.instance, "schedule_id": spec.id, "command": spec.command, "due_at": to_text(due_at)}
        blocked = self.gate(entry.instance, spec.command, now) if self.gate is not None else None
        if blocked is not None:
            entry.last_skip = fired_at
            self.store.put_schedule_state(self._state(entry))
            log.info("schedule skipped: circuit breaker open", extra=data)
            self.hub.publish("scheduler.skipped", {**data, "reason": blocked})
            return None
        if active >= limit:
            entry.last_skip = fired_at
            self.store.put_schedule_state(self._state(entry))
            log.info("schedule skipped: previous run still active", extra={**data, "active": active})
            self.hub.publish("scheduler.skipped", {**data, "reason": f"{active} job(s) still queued or running"})
            return None
        entry.last_fired = fired_at
        result = self.store.enqueue(
            NewJob(
                plugin=entry.instance,
                command=spec.command,
                payload=spec.payload or None,
                submitted_by="scheduler",
                max_attempts=instance.spec.retry.max_attempts,
                dedupe_key=entry.key,
            ),
            now=now,
            dedupe_since=None,
            enforce_dedupe=False,
            schedule_state=self._state(entry),
        )
        entry.last_job_id = result.job_id
        log.info(
            "job queued",
            extra={
                "job_id": result.job_id,
                "plugin": entry.instance,
                "command": spec.command,
                "attempt": 1,
                "status": "queued",
                "submitted_by": "scheduler",
                "schedule_id": spec.id,
                "slot": to_text(slot),
                "due_at": to_text(due_at),
            },
        )
        self.hub.publish("scheduler.fired", {**data, "job_id": result.job_id})
        self.hub.publish("scheduler.scheduled", {**data, "job_id": result.job_id})  # Ductile's name for it
        self.hub.job_queued(result.job_id, entry.instance, spec.command, "scheduler")
        self.on_enqueue()
        return result.job_id
