"""The scheduler's plan after a reload: unchanged entries kept as they are, the rest planned anew.

An entry whose schedule, instance and validity did not change is the *same object* afterwards:
its slot, fire time, last fire and pause stay, so a reload can neither fire a slot twice nor skip
one. A changed schedule is planned from now on its new grid (its manual pause and last fire are
kept, as across a restart with the same command). A new one is planned like at start-up from its
persisted row, if any, except that a `catch_up: run_all` backlog is not enqueued: it makes up
for time the gateway was down, and it was not. Entries that are gone are marked so the loop, if it holds them in a list it is
iterating, does not fire them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from ductile.jobs import ScheduleState
from ductile.registry import Registry
from ductile.scheduler.entries import PAUSED_INVALID, Entry, invalid_reason, plan_entry

REMOVED = "removed by a config reload"


@dataclass
class Replan:
    entries: list[Entry] = field(default_factory=list)
    kept: list[Entry] = field(default_factory=list)
    planned: list[Entry] = field(default_factory=list)  # new or changed: their state must be persisted
    dropped: list[Entry] = field(default_factory=list)


def replan(
    current: list[Entry],
    registry: Registry,
    persisted: Mapping[tuple[str, str], ScheduleState],
    *,
    now: datetime,
    draw: Callable[[], float],
) -> Replan:
    """The new entry list (in registry order, as `Scheduler.load` builds it). No I/O."""
    old = {(e.instance, e.spec.id): e for e in current}
    out = Replan()
    for name, instance in registry.instances.items():
        commands = instance.plugin.manifest.command_names
        for spec in instance.spec.schedules:
            prev = old.pop((name, spec.id), None)
            if prev is not None and prev.spec == spec and _validity(prev) == invalid_reason(spec, commands):
                out.entries.append(prev)
                out.kept.append(prev)
                continue
            if prev is not None:
                # changed: keep who paused it and when it last fired, not the old grid's slot
                state = dataclasses.replace(prev.state(now), next_slot=None, next_fire=None)
                if prev.status == PAUSED_INVALID:
                    state = dataclasses.replace(state, status="active", reason=None)
            else:
                state = persisted.get((name, spec.id))
            entry = plan_entry(name, spec, state, commands=commands, now=now, draw=draw())
            entry.catch_up_slots = ()  # a run_all backlog: the gateway was running, nothing was missed
            out.entries.append(entry)
            out.planned.append(entry)
    for entry in old.values():
        entry.status, entry.reason = PAUSED_INVALID, REMOVED
        out.dropped.append(entry)
    return out


def _validity(entry: Entry) -> str | None:
    return entry.reason if entry.status == PAUSED_INVALID else None
