"""Schedule-entry rows → `ScheduleState` (kept out of sqlite.py; shared by any SQL backend)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from ductile.jobs import ScheduleState

_FIELDS = tuple(f.name for f in dataclasses.fields(ScheduleState))


def states(rows: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], ScheduleState]:
    """Rows of `schedule_state` keyed by (instance, schedule_id); columns a row lacks keep their default."""
    out: dict[tuple[str, str], ScheduleState] = {}
    for row in rows:
        keys = set(row.keys())
        values = {name: row[name] for name in _FIELDS if name in keys}
        out[(row["instance"], row["schedule_id"])] = ScheduleState(**values)
    return out


def outstanding(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    return [row["job_id"] for row in rows]
