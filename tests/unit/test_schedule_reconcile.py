"""The scheduler's plan after a reload (ductile.scheduler.reconcile.replan), with a controlled clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ductile.config import PluginInstanceConfig
from ductile.manifest import Manifest, Plugin
from ductile.registry import Instance, Registry
from ductile.scheduler.entries import ACTIVE, PAUSED_INVALID, PAUSED_MANUAL, plan_entry
from ductile.scheduler.reconcile import REMOVED, replan

T0 = datetime(2026, 11, 29, 10, 0, 0, tzinfo=UTC)
PLUGIN = Plugin(
    manifest=Manifest.model_validate(
        {
            "manifest_spec": "ductile.plugin",
            "manifest_version": 1,
            "name": "echo",
            "protocol": 2,
            "entrypoint": "run",
            "commands": [{"name": "poll", "type": "read"}, {"name": "sync", "type": "read"}],
        }
    ),
    directory=Path("/plugins/echo"),
    entrypoint=Path("/plugins/echo/run"),
)


def registry(**instances: list[dict[str, Any]]) -> Registry:
    return Registry(
        instances={
            name: Instance(name, PLUGIN, PluginInstanceConfig.model_validate({"schedules": s}), 1)
            for name, s in instances.items()
        },
        data_dir=Path("/data"),
    )


def entries(reg: Registry, now: datetime) -> list[Any]:
    return [
        plan_entry(name, spec, None, commands=inst.plugin.manifest.command_names, now=now, draw=0.0)
        for name, inst in reg.instances.items()
        for spec in inst.spec.schedules
    ]


def test_unchanged_entries_are_the_same_objects_with_their_slot_and_pause() -> None:
    before = registry(a=[{"id": "keep", "every": "1h"}, {"id": "held", "every": "1h"}])
    current = entries(before, T0)
    keep, held = current
    held.status, held.reason, held.paused_by = PAUSED_MANUAL, "maintenance", "alice"
    keep.last_fired = "2026-11-29T09:00:00Z"
    plan = replan(current, registry(a=[{"id": "keep", "every": "1h"}, {"id": "held", "every": "1h"}]), {},
                  now=T0 + timedelta(minutes=20), draw=lambda: 0.5)  # fmt: skip
    assert plan.entries[0] is keep and plan.entries[1] is held
    assert (keep.slot, keep.fire_at, keep.last_fired) == (current[0].slot, current[0].fire_at, "2026-11-29T09:00:00Z")
    assert held.status == PAUSED_MANUAL and plan.planned == [] and plan.dropped == []


def test_changed_entry_is_planned_on_its_new_grid_keeping_its_pause_and_last_fire() -> None:
    current = entries(registry(a=[{"id": "s", "every": "2h"}]), T0)
    old = current[0]
    old.status, old.reason, old.paused_by, old.paused_at = PAUSED_MANUAL, "hold", "bob", "2026-11-29T09:00:00Z"
    old.last_fired = "2026-11-29T08:00:00Z"
    now = T0 + timedelta(minutes=7)
    plan = replan(current, registry(a=[{"id": "s", "every": "10m"}]), {}, now=now, draw=lambda: 0.0)
    [entry] = plan.entries
    assert entry is not old and plan.planned == [entry]
    assert entry.spec.every == 600 and entry.slot is not None and entry.slot >= now
    assert entry.slot - now <= timedelta(minutes=10)  # on the new grid, not the old 2h slot
    assert (entry.status, entry.paused_by, entry.last_fired) == (PAUSED_MANUAL, "bob", "2026-11-29T08:00:00Z")


def test_a_command_change_starts_over_and_removed_entries_are_marked() -> None:
    current = entries(registry(a=[{"id": "s", "every": "1h"}], b=[{"id": "t", "every": "1h"}]), T0)
    current[0].status, current[0].reason = PAUSED_MANUAL, "hold"
    plan = replan(current, registry(a=[{"id": "s", "every": "1h", "command": "sync"}]), {}, now=T0, draw=lambda: 0.0)
    [entry] = plan.entries
    assert entry.spec.command == "sync" and entry.status == ACTIVE  # another command: the pause was for the old one
    [gone] = plan.dropped
    assert gone.instance == "b" and (gone.status, gone.reason) == (PAUSED_INVALID, REMOVED)
    assert not gone.due_any_time  # a loop still holding it in a list never fires it


def test_new_entries_resume_from_their_persisted_row_without_a_catch_up_backlog() -> None:
    reg = registry(a=[{"id": "s", "every": "1m", "catch_up": "run_all"}])
    [earlier] = entries(reg, T0)
    state = earlier.state(T0)
    later = T0 + timedelta(minutes=30)
    plan = replan([], reg, {("a", "s"): state}, now=later, draw=lambda: 0.0)
    [entry] = plan.entries
    assert entry.catch_up_slots == () and entry.slot is not None and entry.slot >= later
    assert plan.planned == [entry]
