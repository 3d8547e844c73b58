"""Schedule entries seen and operated from any node of a PostgreSQL cluster.

Only the leader runs the scheduler loop, but every node can list the entries and pause, resume or
run one: the entry state is the `schedule_state` row. A node that does not lead plans its view from
config and that row; pause and resume — on every node, the leader included — change only the row's
status, conditionally (store/pg_schedules.py), so they serialise with the leader's fires on the
row itself. The leader takes such changes into its loop with `adopt`: at once when they were made
on this node, when another node's `scheduler.paused`/`scheduler.resumed` event reaches it, at its
next heartbeat at the latest, and whenever a fire of a paused entry is refused by the row.
"""

from __future__ import annotations

import functools
import logging
import random
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ductile.events import EventHub
from ductile.jobs import ScheduleState
from ductile.registry import Registry
from ductile.scheduler.entries import ACTIVE, PAUSED_MANUAL, Entry, plan_entry
from ductile.store.offload import on_loop
from ductile.timeutil import from_text, utcnow

if TYPE_CHECKING:
    from ductile.scheduler.loop import Scheduler
    from ductile.store.postgres import PostgresStore

log = logging.getLogger("ductile.scheduler")
_OPERABLE = (ACTIVE, PAUSED_MANUAL)


def view(registry: Registry, states: dict[tuple[str, str], ScheduleState], now: datetime) -> list[Entry]:
    """Every entry as the database has it: status, pause, last fire and next slot from its row
    (planned from config, as at a start, when it has none yet). Nothing is written."""
    entries: list[Entry] = []
    for name, instance in registry.instances.items():
        commands = instance.plugin.manifest.command_names
        for spec in instance.spec.schedules:
            state = states.get((name, spec.id))
            entry = plan_entry(name, spec, state, commands=commands, now=now, draw=0.0)
            entry.catch_up_slots = ()
            if state is not None and state.command in (None, spec.command):
                entry.last_fired, entry.last_job_id = state.last_fired, state.last_job_id
                if entry.status in _OPERABLE and state.next_slot:
                    entry.slot = from_text(state.next_slot)
                    entry.fire_at = from_text(state.next_fire) if state.next_fire else entry.slot
            entries.append(entry)
    return entries


def adopt(entry: Entry, state: ScheduleState | None) -> bool:
    """Take into a leader's entry a pause or resume written by any node, and a next slot another
    node moved forward (slots only move forward, so a later one is always safe to take). True
    when the entry changed."""
    if state is None or state.command not in (None, entry.spec.command):
        return False
    if entry.status not in _OPERABLE or state.status not in _OPERABLE:
        return False
    changed = False
    if (state.status, state.paused_by, state.paused_at) != (entry.status, entry.paused_by, entry.paused_at):
        entry.status, entry.reason = state.status, state.reason
        entry.paused_by, entry.paused_at = state.paused_by, state.paused_at
        changed = True
    if state.status == ACTIVE and state.next_slot:
        slot = from_text(state.next_slot)
        if entry.slot is None or slot > entry.slot:
            entry.slot = slot
            entry.fire_at = from_text(state.next_fire) if state.next_fire else slot
            changed = True
    return changed


class SharedSchedules:
    """The operator actions of `Scheduler` (find, pause, resume, run now) on the database rows, for
    any node of a cluster. `leader` returns this node's running scheduler while it leads, so a
    change made here reaches its loop at once."""

    def __init__(
        self,
        store: PostgresStore,
        registry: Registry,
        hub: EventHub,
        *,
        on_enqueue: Callable[[], None] = lambda: None,
        leader: Callable[[], Scheduler | None] = lambda: None,
        clock: Callable[[], datetime] = utcnow,
        draw: Callable[[], float] = random.random,
    ):
        self.store = store
        self.registry = registry
        self.hub = hub
        self.on_enqueue = on_enqueue
        self.leader = leader
        self.clock = clock
        self.draw = draw

    @property
    def entries(self) -> list[Entry]:
        return view(self.registry, self.store.schedule_states(), self.clock())

    def _ops(self) -> Scheduler:
        """A scheduler that never runs, holding the database view: its checks, conditional
        writes (`Scheduler._set_status`), run now and event shapes are the loop's own."""
        from ductile.scheduler.loop import Scheduler

        ops = Scheduler(self.store, self.registry, hub=self.hub, on_enqueue=self.on_enqueue, clock=self.clock)
        ops.entries = self.entries
        return ops

    def find(self, plugin: str, schedule_id: str) -> Entry:
        return self._ops().find(plugin, schedule_id)

    def pause(self, plugin: str, schedule_id: str, *, by: str, reason: str | None = None) -> tuple[Entry, bool]:
        entry, changed = self._ops().pause(plugin, schedule_id, by=by, reason=reason)
        if changed:
            self._sync_leader()
        return entry, changed

    def resume(self, plugin: str, schedule_id: str, *, by: str) -> tuple[Entry, bool]:
        entry, changed = self._ops().resume(plugin, schedule_id, by=by)
        if changed:
            self._sync_leader()
        return entry, changed

    def run_now(self, plugin: str, schedule_id: str, *, by: str) -> str:
        return self._ops().run_now(plugin, schedule_id, by=by)

    def _sync_leader(self) -> None:
        scheduler = self.leader()
        if scheduler is not None:  # its entries are the loop's: changed there (on_loop)
            on_loop(scheduler.sync, self.store.schedule_states())


class LoopHub:
    """The event hub as a store thread sees it: every call (publish, job_queued) is handed to the
    event loop with `on_loop`, in order; made right away when not on a store thread. The
    hub is not thread-safe, and the API runs schedule actions off the loop on PostgreSQL."""

    def __init__(self, hub: EventHub):
        self._hub = hub

    def __getattr__(self, name: str) -> Callable[..., None]:
        method = getattr(self._hub, name)
        return lambda *args, **kwargs: on_loop(functools.partial(method, *args, **kwargs))


def remote_change(event: Any) -> bool:
    """An event after which a leader should re-read the schedule rows."""
    return getattr(event, "type", "") in ("scheduler.paused", "scheduler.resumed")


def operations(gw: Any) -> Any:
    """Who carries out schedule actions on gateway `gw`: its scheduler on SQLite; on PostgreSQL the
    rows (`SharedSchedules`) on every node, the leader included, so pauses and fires serialise on
    the row whichever nodes they come from. None when the gateway has no scheduler."""
    if gw.scheduler is None:
        return None
    if gw.cluster is None:
        return gw.scheduler

    def leader() -> Scheduler | None:
        return gw.scheduler if gw.cluster is not None and gw.cluster.leading else None

    dispatcher = gw.dispatcher
    return SharedSchedules(
        gw.store,
        gw.registry,
        LoopHub(gw.hub),  # type: ignore[arg-type]
        on_enqueue=(lambda: on_loop(dispatcher.wake)) if dispatcher is not None else (lambda: None),
        leader=leader,
    )


def listed(gw: Any) -> list[Entry]:
    """The entries `GET /schedules` shows: the running loop's on SQLite and on the leader (they
    carry the last skip too); the database's on any other node of a cluster."""
    if gw.scheduler is None:
        return []
    if gw.cluster is None or gw.cluster.leading:
        return list(gw.scheduler.entries)
    return operations(gw).entries  # type: ignore[no-any-return]
