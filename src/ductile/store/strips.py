"""What the dashboard's run strips read, for every schedule entry at once, and the scheduler's
skip records they need.

Why batched: the overview draws one strip per schedule. Reading each entry's history on its own
took the store's lock (SQLite: the one connection the dispatcher also uses) 200 times per render
for 200 schedules, most of the overview's data time; here each read is one statement for all
entries. Why skips are stored: a skipped slot is otherwise only an event in the hub's replay
buffer, and after a restart it would read as "missed" (no run, no reason) — the strip would lie.

A mixin of both stores (`SqliteStore`, `PostgresStore`): each dialect has its named queries in
`sql/strips_<dialect>.sql` and the host supplies `_tx` and `_read`. On SQLite the two batched
reads go through a read connection of their own (WAL lets it read beside the writer), so the
dashboard never holds the lock of the connection the dispatcher claims and finishes jobs on;
PostgreSQL reads take a pooled connection anyway.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from ductile.store import queries
from ductile.store.errors import classify
from ductile.timeutil import to_text

History = list[tuple[str, str]]  # (created_at, status), newest first
_SIDE_LOCK = threading.Lock()  # opening or closing a store's side connection


class Skip(NamedTuple):
    """One slot the scheduler skipped: when it decided, why, and which grid slot (None: one-shot)."""

    at: str
    reason: str
    slot: str | None


class HistoryRequest(NamedTuple):
    """One schedule entry's jobs to read: its plugin instance, command, dedupe key, and since when."""

    plugin: str
    command: str
    key: str
    since: str


class SkipRequest(NamedTuple):
    instance: str
    schedule_id: str
    since: str


class StripReads:
    """Needs `_tx` (a write transaction) and `_read` (one locked statement) from the host, and
    `_dialect` ("sqlite" or "postgres") to pick the named queries."""

    _dialect: str = "sqlite"
    _tx: Callable[..., Any]
    _read: Callable[..., list[Any]]

    @property
    def _strip_q(self) -> dict[str, str]:
        return queries.load(f"strips_{self._dialect}")

    def _strip_read(self, sql: str, params: Any) -> list[Any]:
        """One read statement: on SQLite through the strips' own connection (opened on first use,
        closed by `close_strip_reader`), elsewhere through the host's `_read`."""
        if self._dialect != "sqlite":
            return self._read(sql, params)
        path = self.path  # type: ignore[attr-defined]
        with _SIDE_LOCK:
            side = self.__dict__.get("_strip_side")
            if side is None:
                try:
                    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10.0)
                    conn.execute("PRAGMA query_only=1")
                    conn.execute("PRAGMA cache_size=-4000")
                except sqlite3.Error as exc:
                    raise classify(exc, path, "read") or exc from exc
                side = self.__dict__["_strip_side"] = (conn, threading.Lock())
        conn, lock = side
        with lock:
            try:
                return conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise classify(exc, path, "read") or exc from exc

    def close_strip_reader(self) -> None:
        """Close the SQLite side connection, if one was opened (the store's `close` calls this)."""
        with _SIDE_LOCK:
            side = self.__dict__.pop("_strip_side", None)
        if side is not None:
            with side[1]:
                side[0].close()

    def schedule_histories(self, requests: Sequence[HistoryRequest], limit: int) -> list[History]:
        """For each request, in order: the entry's jobs created at or after `since`, newest first,
        at most `limit`, as (created_at, status)."""
        if not requests:
            return []
        entries = [{"i": i, "plugin": r[0], "command": r[1], "dkey": r[2], "since": r[3]} for i, r in enumerate(requests)]
        out: list[History] = [[] for _ in requests]
        params = {"entries": json.dumps(entries), "limit": limit}
        if self._dialect == "sqlite":  # one row per entry: its runs as a JSON array (no LATERAL)
            for row in self._strip_read(self._strip_q["schedule_histories"], params):
                runs = [(created, status) for created, status in json.loads(row[1])]
                out[row[0]] = sorted(runs, key=lambda run: run[0], reverse=True)
            return out
        for row in self._read(self._strip_q["schedule_histories"], params):
            out[row[0]].append((row[1], row[2]))
        return out

    def record_schedule_skip(
        self, instance: str, schedule_id: str, command: str, *, at: datetime, reason: str, slot: datetime | None
    ) -> None:
        """Keep one skip (the scheduler calls this for every skipped fire)."""
        params = {
            "instance": instance,
            "schedule_id": schedule_id,
            "command": command,
            "slot": to_text(slot) if slot is not None else None,
            "at": to_text(at),
            "reason": reason,
        }
        with self._tx() as db:
            db.execute(self._strip_q["record_schedule_skip"], params)

    def schedule_skips(self, requests: Sequence[SkipRequest], limit: int) -> list[list[Skip]]:
        """For each request, in order, the entry's recorded skips at or after `since`, newest
        first, at most `limit`."""
        if not requests:
            return []
        entries = [{"i": i, "instance": r[0], "schedule_id": r[1], "since": r[2]} for i, r in enumerate(requests)]
        out: list[list[Skip]] = [[] for _ in requests]
        for row in self._strip_read(self._strip_q["schedule_skips"], {"entries": json.dumps(entries), "limit": limit}):
            out[row[0]].append(Skip(row[1], row[2], row[3]))
        return out

    def prune_schedule_skips(self, cutoff: datetime, batch: int = 1000) -> int:
        """Delete at most `batch` skips recorded before `cutoff`; call again until 0."""
        with self._tx() as db:
            return int(db.execute(self._strip_q["prune_schedule_skips"], {"cutoff": to_text(cutoff), "batch": batch}).rowcount)
