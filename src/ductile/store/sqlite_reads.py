"""Lineage reads of the SQLite store: job trees, children, event contexts.

A mixin of `SqliteStore`, kept apart so the write path in `sqlite.py` stays readable. These are
the inspection surfaces of pipelines (GET /job/{id}/tree, `ductile job inspect`, the monitor):
plain reads through the store's lock, never writes.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from ductile.jobs import Job
from ductile.store import queries

Q = queries.load("sqlite")


class SqliteReads:
    """Needs `_read` (locked fetchall) and `_to_job` (row in _JOB_COLUMNS order → Job) from the host."""

    _read: Callable[..., list[sqlite3.Row]]
    _to_job: Callable[[Sequence[Any]], Job]

    def job_tree(self, job_id: str) -> list[Job]:
        seen: set[str] = set()
        out = []
        for row in self._read(Q["job_tree"], {"job_id": job_id}):
            job = self._to_job(row)
            if job.job_id not in seen:  # only a hand-made parent cycle could repeat a job
                seen.add(job.job_id)
                out.append(job)
        return out

    def children(self, job_id: str) -> list[Job]:
        return [self._to_job(r) for r in self._read(Q["children_of_job"], {"job_id": job_id})]

    def current_responses(self, job_ids: list[str]) -> dict[str, Any]:
        """job_id → stored response of its current attempt (absent: no attempt or no response)."""
        if not job_ids:
            return {}
        rows = self._read(Q["current_responses"], {"ids": json.dumps(job_ids)})
        return {r["job_id"]: json.loads(r["response"]) for r in rows if r["response"] is not None}
