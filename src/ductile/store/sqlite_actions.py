"""Retry links and the bulk-action audit trail of the SQLite store (a mixin of `SqliteStore`).

Kept apart from the write path in `sqlite.py`: these are operator actions, not the dispatch loop.
The retry itself is an ordinary `enqueue` (with `NewJob.retry_of`), so dedupe, routing and the
hourly counts treat it like any other job.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from ductile.jobs import BulkAction
from ductile.store import queries
from ductile.timeutil import to_text

Q = queries.load("sqlite")


class SqliteActions:
    """Needs `_read` (locked fetchall), `_tx` (write transaction) and `_q` (named queries of its
    dialect) from the host; `PostgresStore` uses it too."""

    _read: Callable[..., list[Any]]
    _tx: Callable[[], AbstractContextManager[Any]]
    _q: Mapping[str, str]

    def retry_links(self, job_id: str) -> dict[str, Any]:
        """`{retry_of, retried_by}`: the job this one repeats, and the retries made of it."""
        row = self._read(self._q["retry_of"], {"job_id": job_id})
        return {
            "retry_of": row[0][0] if row else None,
            "retried_by": [r[0] for r in self._read(self._q["retried_by"], {"job_id": job_id})],
        }

    def record_bulk_action(self, action: BulkAction, *, now: datetime) -> int:
        with self._tx() as db:
            return insert_bulk_action(db, action, now, self._q)

    def bulk_actions(self, limit: int = 50) -> list[BulkAction]:
        return list(_actions(self._read(self._q["list_bulk_actions"], {"limit": limit})))


def insert_bulk_action(db: Any, action: BulkAction, now: datetime, q: Mapping[str, str] = Q) -> int:
    """The audit row inside the caller's transaction; its id (RETURNING, in both dialects)."""
    row = db.execute(
        q["insert_bulk_action"],
        {
            "action": action.action,
            "actor": action.actor,
            "filter": json.dumps(action.filter, sort_keys=True),
            "matched": action.matched,
            "acted": action.acted,
            "skipped": action.skipped,
            "job_ids": json.dumps(action.job_ids),
            "created_at": to_text(now),
        },
    ).fetchone()
    return int(row[0])


def _actions(rows: list[Any]) -> Iterator[BulkAction]:
    for r in rows:
        yield BulkAction(
            id=r["id"],
            action=r["action"],
            actor=r["actor"],
            filter=json.loads(r["filter"]),
            matched=r["matched"],
            acted=r["acted"],
            skipped=r["skipped"],
            job_ids=json.loads(r["job_ids"]),
            created_at=r["created_at"],
        )
