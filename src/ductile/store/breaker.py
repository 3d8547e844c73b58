"""Circuit breaker persistence (pipelines.md §8): rows, transitions, and the hooks the store's
write path calls.

Why here and not in the scheduler: our scheduler has no tick, so the breaker is fed when a
scheduler-submitted job *ends*, inside the same transaction that ends it (`SqliteStore.finish`,
`cancel`). Every terminal failure then counts exactly once, also when several end between two
fires, and a crash can neither lose nor double-count one. The decisions themselves are the pure
functions of `ductile.breaker.state`; this module only reads and writes rows.

Transitions are handed to `Breakers.listener` (the gateway publishes them as SSE) only after the
transaction committed, so a rolled-back finish never announces a change that did not happen.

Both stores use this code: every helper takes the store's named-query dict (`SqliteStore` and
`PostgresStore` name their statements alike). PostgreSQL adds `breaker_lock`, an advisory lock
taken before each read-modify-write, so two nodes counting failures of one (plugin, command) at
once take turns; SQLite's `BEGIN IMMEDIATE` already serialises writers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ductile.breaker.state import (
    DEFAULT_RESET_AFTER,
    DEFAULT_THRESHOLD,
    Breaker,
    Change,
    on_due,
    on_outcome,
    on_reset,
)
from ductile.jobs import Job
from ductile.lifecycle import Status
from ductile.store import queries
from ductile.timeutil import from_text, to_text

Q = queries.load("sqlite")
Db = Any  # a sqlite3 or psycopg connection: the rows and named queries look alike (`q` picks the dialect)
log = logging.getLogger(__name__)
# Terminal statuses that feed a breaker (§8); `skipped` is not an outcome of a run.
COUNTED = frozenset({Status.SUCCEEDED, Status.FAILED, Status.TIMED_OUT, Status.DEAD})
# Who "the scheduler" is in `jobs.submitted_by`: ours writes `scheduler`; Ductile writes
# `service.name`. The gateway adds its service.name, so either spelling counts (one rule:
# "jobs the scheduler submitted"), and API/webhook/route/hook/cli jobs never do.
SCHEDULER_SUBMITTER = "scheduler"
Listener = Callable[[list[Change]], None]


@dataclass
class Breakers:
    """A store's breaker settings: which submitters count, each plugin's threshold and cooldown,
    and who hears about transitions. Defaults (threshold 3, 30m) hold until `configure`."""

    submitters: frozenset[str] = frozenset({SCHEDULER_SUBMITTER})
    thresholds: dict[str, int] = field(default_factory=dict)
    reset_after: dict[str, float] = field(default_factory=dict)
    listener: Listener | None = None
    q: Mapping[str, str] = field(default_factory=lambda: Q)

    def threshold(self, plugin: str) -> int:
        return self.thresholds.get(plugin, DEFAULT_THRESHOLD)

    def cooldown(self, plugin: str) -> float:
        return self.reset_after.get(plugin, DEFAULT_RESET_AFTER)

    @contextmanager
    def after_commit(self) -> Iterator[Pending]:
        """Collect transitions made inside a transaction; announce them when the block (and the
        transaction nested inside it) completed without an exception."""
        pending = Pending(self)
        yield pending
        if pending.changes and self.listener is not None:
            try:
                self.listener(list(pending.changes))
            except Exception:  # the change is committed: a failing listener must not look like a failed finish
                log.exception("circuit breaker listener failed", extra={"changes": len(pending.changes)})


@dataclass
class Pending:
    breakers: Breakers
    changes: list[Change] = field(default_factory=list)

    def job_ended(self, db: Db, job: Job, status: Status, now: datetime) -> None:
        """The one call the store's finish/cancel make: count this job if the scheduler submitted
        it and `status` is a terminal outcome (a job that will retry is not passed here)."""
        if job.submitted_by not in self.breakers.submitters or status not in COUNTED:
            return
        q = self.breakers.q
        before = load(db, job.plugin, job.command, q) or Breaker(job.plugin, job.command)
        after, change = on_outcome(
            before,
            succeeded=status is Status.SUCCEEDED,
            job_id=job.job_id,
            completed_at=now,
            threshold=self.breakers.threshold(job.plugin),
        )
        save(db, after, now, change, q)
        if change is not None:
            self.changes.append(change)


def _time(text: str | None) -> datetime | None:
    return from_text(text) if text else None


def _breaker(row: Any) -> Breaker:
    return Breaker(
        plugin=row["plugin"],
        command=row["command"],
        state=row["state"],
        failure_count=row["failure_count"],
        opened_at=_time(row["opened_at"]),
        last_failure_at=_time(row["last_failure_at"]),
        last_job_id=row["last_job_id"],
    )


def load(db: Db, plugin: str, command: str, q: Mapping[str, str] = Q) -> Breaker | None:
    """The row inside the caller's write transaction (locked first where the dialect needs it)."""
    key = {"plugin": plugin, "command": command}
    if "breaker_lock" in q:
        db.execute(q["breaker_lock"], key)
    row = db.execute(q["breaker_get"], key).fetchone()
    return _breaker(row) if row is not None else None


def save(db: Db, breaker: Breaker, now: datetime, change: Change | None, q: Mapping[str, str] = Q) -> None:
    stamp = to_text(now)
    db.execute(
        q["breaker_put"],
        {
            "plugin": breaker.plugin,
            "command": breaker.command,
            "state": breaker.state,
            "failure_count": breaker.failure_count,
            "opened_at": to_text(breaker.opened_at) if breaker.opened_at else None,
            "last_failure_at": to_text(breaker.last_failure_at) if breaker.last_failure_at else None,
            "last_job_id": breaker.last_job_id,
            "updated_at": stamp,
        },
    )
    if change is not None:
        db.execute(
            q["breaker_insert_transition"],
            {
                "plugin": change.plugin,
                "command": change.command,
                "from_state": change.from_state,
                "to_state": change.to_state,
                "failure_count": change.failure_count,
                "reason": change.reason,
                "job_id": change.job_id,
                "created_at": stamp,
            },
        )


def breaker_view(row: Any) -> dict[str, Any]:
    return {key: row[key] for key in row.keys()}  # noqa: SIM118 (sqlite3.Row / PgRow are not mappings)


class SqliteBreakers:
    """Mixin of `SqliteStore` and `PostgresStore`: the breaker verbs of `base.Store`. Needs
    `_tx`, `_read` and `_q` (the named queries of the host's dialect)."""

    _tx: Callable[[], AbstractContextManager[Db]]
    _read: Callable[..., list[Any]]
    _q: Mapping[str, str]

    @property
    def breakers(self) -> Breakers:
        found = self.__dict__.get("_breakers")
        if found is None:
            found = self.__dict__["_breakers"] = Breakers(q=self._q)
        return found

    def configure_breakers(
        self,
        *,
        thresholds: dict[str, int],
        reset_after: dict[str, float],
        submitters: frozenset[str] = frozenset({SCHEDULER_SUBMITTER}),
        listener: Listener | None = None,
    ) -> None:
        self.__dict__["_breakers"] = Breakers(
            submitters=submitters,
            thresholds=dict(thresholds),
            reset_after=dict(reset_after),
            listener=listener,
            q=self._q,
        )

    def breaker_gate(self, plugin: str, command: str, now: datetime) -> str | None:
        """The scheduler asks before enqueueing a due run: None = go, "circuit_open" = skip.
        An open breaker whose cooldown elapsed moves to half_open here (and the run goes)."""
        row = self._read(self._q["breaker_get"], {"plugin": plugin, "command": command})
        if not row or row[0]["state"] != "open":
            return None  # the common case: no write at all
        with self.breakers.after_commit() as pending, self._tx() as db:
            before = load(db, plugin, command, self._q)
            if before is None:
                return None
            after, change, reason = on_due(before, now=now, reset_after=self.breakers.cooldown(plugin))
            if change is not None:
                save(db, after, now, change, self._q)
                pending.changes.append(change)
        return reason

    def reset_breaker(self, plugin: str, command: str, now: datetime) -> Change:
        with self.breakers.after_commit() as pending, self._tx() as db:
            after, change = on_reset(load(db, plugin, command, self._q), plugin=plugin, command=command)
            save(db, after, now, change, self._q)
            pending.changes.append(change)
        return change

    def breaker_rows(self) -> list[dict[str, Any]]:
        return [breaker_view(r) for r in self._read(self._q["breaker_all"])]

    def breaker_row(self, plugin: str, command: str) -> dict[str, Any] | None:
        rows = self._read(self._q["breaker_get"], {"plugin": plugin, "command": command})
        return breaker_view(rows[0]) if rows else None

    def breaker_transitions(self, plugin: str, command: str, limit: int = 20) -> list[dict[str, Any]]:
        rows = self._read(self._q["breaker_transitions"], {"plugin": plugin, "command": command, "limit": limit})
        return [breaker_view(r) for r in rows]

    def count_open_breakers(self) -> int:
        return int(self._read(self._q["breaker_count_open"])[0][0])

    def prune_breaker_transitions(self, cutoff: datetime, batch: int = 1000) -> int:
        with self._tx() as db:
            return db.execute(
                self._q["breaker_prune_transitions"], {"cutoff": to_text(cutoff), "batch": batch}
            ).rowcount
