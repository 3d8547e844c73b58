"""Lineage reads of the SQLite store: job trees, children, event contexts.

A mixin of `SqliteStore` (and `PostgresStore`), kept apart so the write path in `sqlite.py` stays readable. These are
the inspection surfaces of pipelines (GET /job/{id}/tree, `ductile job inspect`, the monitor):
plain reads through the store's lock, never writes.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ductile.jobs import Job
from ductile.store import queries

Q = queries.load("sqlite")


class SqliteReads:
    """Needs `_read` (locked fetchall) and `_to_job` (row in _JOB_COLUMNS order → Job) from the host.

    `PostgresStore` reuses it with its own named queries (`_q`): same names, same result columns."""

    _q: Mapping[str, str] = Q
    _read: Callable[..., list[sqlite3.Row]]
    _to_job: Callable[[Sequence[Any]], Job]

    def job_tree(self, job_id: str) -> list[Job]:
        seen: set[str] = set()
        out = []
        for row in self._read(self._q["job_tree"], {"job_id": job_id}):
            job = self._to_job(row)
            if job.job_id not in seen:  # only a hand-made parent cycle could repeat a job
                seen.add(job.job_id)
                out.append(job)
        return out

    def children(self, job_id: str) -> list[Job]:
        return [self._to_job(r) for r in self._read(self._q["children_of_job"], {"job_id": job_id})]

    def current_responses(self, job_ids: list[str]) -> dict[str, Any]:
        """job_id → stored response of its current attempt (absent: no attempt or no response)."""
        if not job_ids:
            return {}
        rows = self._read(self._q["current_responses"], {"ids": json.dumps(job_ids)})
        return {r["job_id"]: json.loads(r["response"]) for r in rows if r["response"] is not None}

    def get_context(self, context_id: str) -> dict[str, Any] | None:
        rows = self._read(self._q["get_context"], {"id": context_id})
        return _context(rows[0]) if rows else None

    def context_lineage(self, context_id: str) -> list[dict[str, Any]]:
        seen: set[str] = set()
        out = []
        for row in self._read(self._q["context_lineage"], {"id": context_id}):
            if row["id"] not in seen:
                seen.add(row["id"])
                out.append(_context(row))
        return out

    def emitted_with_children(self, job_id: str) -> list[dict[str, Any]]:
        return [
            {
                "event_id": r["event_id"],
                "type": r["type"],
                "payload": None if r["payload"] is None else json.loads(r["payload"]),
                "created_at": r["created_at"],
                "children": json.loads(r["children"]),
            }
            for r in self._read(self._q["emitted_with_children"], {"job_id": job_id})
        ]

    def pipeline_instance(self, pipeline: str) -> dict[str, Any] | None:
        rows = self._read(self._q["latest_pipeline_job"], {"pipeline": pipeline})
        if not rows:
            return None
        entry = rows[0]["job_id"]
        found = self._read(self._q["job_instance"], {"job_id": entry})
        instance = found[0]["instance_id"] if found else None
        parent = found[0]["parent_job_id"] if found else None
        # Walk up while the parent belongs to the same instance: the entry job started it.
        for _ in range(10000):
            if instance is None or parent is None:
                break
            above = self._read(self._q["job_instance"], {"job_id": parent})
            if not above or above[0]["instance_id"] != instance:
                break
            entry, parent = parent, above[0]["parent_job_id"]
        jobs = [dict(r) for r in self._read(self._q["instance_jobs"], {"entry": entry, "instance": instance})]
        return {"instance_id": instance, "entry_job_id": entry, "jobs": jobs}

    def schedule_runs(
        self, plugin: str, command: str, key: str, limit: int
    ) -> tuple[list[tuple[str, str | None]], str | None]:
        """One schedule entry's newest `limit` finished runs, newest first, as (status,
        completed_at), and when it last succeeded (None: never, or pruned)."""
        params = {"plugin": plugin, "command": command, "key": key, "limit": limit}
        runs = [(r[0], r[1]) for r in self._read(self._q["schedule_recent_runs"], params)]
        success = self._read(self._q["schedule_last_success"], params)
        return runs, success[0][0] if success else None

    def schedule_history(self, plugin: str, command: str, key: str, since: str, limit: int) -> list[tuple[str, str]]:
        """One schedule entry's jobs created at or after `since`, newest first, at most `limit`,
        as (created_at, status): what the dashboard's run strip draws."""
        params = {"plugin": plugin, "command": command, "key": key, "since": since, "limit": limit}
        return [(r[0], r[1]) for r in self._read(self._q["schedule_history"], params)]


def _context(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "parent_id": row["parent_id"],
        "pipeline": row["pipeline_name"],
        "step_id": row["step_id"],
        "instance_id": row["instance_id"],
        "accumulated": json.loads(row["accumulated"]),
        "created_at": row["created_at"],
    }
