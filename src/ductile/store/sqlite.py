"""SQLite implementation of the store: one WAL-mode file, plain `sqlite3`, named queries.

Calls are short and synchronous; the gateway makes them from its event loop thread, so a lock
guards the single connection for the rare caller on another thread.
"""

from __future__ import annotations

import functools
import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from ductile.jobs import (
    AttemptRecord,
    BulkAction,
    EnqueueResult,
    Job,
    NewJob,
    ScheduleState,
    StateChange,
)
from ductile.lifecycle import Decision, Status
from ductile.store import finishing, queries
from ductile.store.base import SchemaTooNew, StoreError
from ductile.store.breaker import SqliteBreakers
from ductile.store.errors import SqliteTooOld, StoreDamaged, StoreUnavailable, classify, sqlite_too_old
from ductile.store.pruning import Pruning
from ductile.store.routing import EntryJob, Routing, insert_entries
from ductile.store.sqlite_actions import SqliteActions, insert_bulk_action
from ductile.store.sqlite_enqueue import _enqueue_in
from ductile.store.sqlite_reads import SqliteSearch
from ductile.store.stopwatch import StopwatchReads
from ductile.store.strips import StripReads
from ductile.store.webhooks import Delivery, WebhookJob, enqueue_deliveries, enqueue_delivery
from ductile.timeutil import to_text

log = logging.getLogger(__name__)
Q = queries.load("sqlite")
CHECKPOINT_INTERVAL = 1.0  # seconds between background WAL checkpoints (see start_checkpointer)
WAL_BACKSTOP_PAGES = 20000  # with the checkpointer on, a commit checkpoints only past ~80 MB of WAL
_DIR_ADVICE = "check that {dir} exists and is writable by this user"


def checkpoint_due(seen: int | None, version: int) -> bool:
    """Whether the background checkpointer has work: `version` is its connection's
    `PRAGMA data_version` now, `seen` the value after its last checkpoint that copied the whole
    WAL (None: never, or the last one was partial or failed). The value changes whenever another
    connection (the store's writer, a CLI) commits, so an unchanged one means nothing new in
    the WAL. Pure."""
    return seen is None or version != seen


@functools.lru_cache(maxsize=64)
def _json_list_of(names: tuple[str, ...]) -> str:
    return json.dumps(list(names))


def _json_list(names: Collection[str]) -> str:
    """`names` as a JSON array (the claim's excluded instances): the same few sets come back
    job after job, so their text is kept rather than encoded for every claim."""
    return _json_list_of(tuple(names)) if names else "[]"


_STATUS = {s.value: s for s in Status}


def _job(r: Sequence[Any]) -> Job:
    """A job from a row in `sqlite_reads._JOB_COLUMNS` order (by position: list pages build up to 201 of these
    per request, and name lookups plus the enum call were most of GET /jobs' store time)."""
    payload, context = r[3], r[15]
    return Job(
        r[0],
        r[1],
        r[2],
        None if payload is None else json.loads(payload),
        _STATUS[r[4]],
        *r[5:15],
        None if context is None else json.loads(context),
        *r[16:21],
    )


class SqliteStore(SqliteSearch, StripReads, StopwatchReads, SqliteActions, SqliteBreakers, Pruning):
    """See `ductile.store.base.Store` for the contract of each method; the reads (jobs, pages,
    counts, attempts, lineage) live in `sqlite_reads` (`SqliteSearch` and the shared `SqliteReads`)."""

    _to_job = staticmethod(_job)

    def __init__(self, path: Path, *, busy_timeout: float = 10.0):
        too_old = sqlite_too_old(sqlite3.sqlite_version_info, sqlite3.sqlite_version)
        if too_old is not None:
            raise SqliteTooOld(too_old)
        self.path = path
        # Set while writes fail with a storage fault (disk full, I/O error, read-only, locked);
        # cleared by the next write that commits a change. The dispatcher pauses on it.
        self.write_fault: StoreUnavailable | None = None
        self._lock = threading.RLock()
        self._checkpointer: tuple[threading.Event, threading.Thread] | None = None
        self.checkpoints = 0  # background checkpoints run (start_checkpointer); tests read it
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            empty = path.exists() and path.stat().st_size == 0
        except OSError as exc:
            raise StoreUnavailable(
                path, "write", "cantopen", f"its directory cannot be used ({exc.strerror})", _DIR_ADVICE, str(exc)
            ) from exc
        try:
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=busy_timeout)
        except sqlite3.Error as exc:
            raise classify(exc, path, "write") or exc from exc
        try:
            self._db.row_factory = sqlite3.Row
            self._refuse_foreign()  # before anything (WAL mode) changes the file
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
            self._db.execute("PRAGMA temp_store=MEMORY")
            # 8 MB of page cache: the hot path touches a few recent pages, and a full scan (pruning,
            # an unindexed filter) would otherwise grow the gateway's RSS by the whole cache for good.
            self._db.execute("PRAGMA cache_size=-8000")
            self._migrate()
        except BaseException as exc:
            self._db.close()
            fault = classify(exc, path, "write")
            if fault is not None:
                raise fault from exc
            raise
        if empty:
            # SQLite treats a zero-length file as an empty database; say so, in case it was
            # truncated by accident (then the backup is what holds the jobs).
            log.warning(
                "database file was empty (0 bytes): initialised a new database in it", extra={"path": str(path)}
            )

    # -- plumbing ---------------------------------------------------------------------------
    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                changes = self._db.total_changes
                try:
                    yield self._db
                except BaseException:
                    self._rollback()
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                fault = classify(exc, self.path, "write")
                if fault is None:
                    raise
                if isinstance(fault, StoreUnavailable):
                    self.write_fault = fault
                raise fault from exc
            if self.write_fault is not None and self._db.total_changes != changes:
                self.write_fault = None

    def _rollback(self) -> None:
        """Undo an open transaction. SQLite may already have rolled it back itself (disk full):
        then there is nothing to do, and the original error is the one to report."""
        if self._db.in_transaction:
            with suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")

    def _read(self, sql: str, params: Any = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise classify(exc, self.path, "read") or exc from exc

    def probe_write(self) -> bool:
        """Commit one real change (flip the otherwise unused user_version between 0 and 1) to
        learn whether writes succeed again; a no-op UPDATE would not touch the disk at all."""
        try:
            with self._tx() as db:
                current = db.execute("PRAGMA user_version").fetchone()[0]
                db.execute(f"PRAGMA user_version={0 if current == 1 else 1}")
        except StoreUnavailable:
            return False
        self.write_fault = None
        return True

    def _refuse_foreign(self) -> None:
        tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if tables and "schema_version" not in tables:
            listed = ", ".join(sorted(tables)[:5]) + (", …" if len(tables) > 5 else "")
            raise StoreDamaged(
                self.path,
                f"it is another program's SQLite database (tables: {listed}; no schema_version)",
                advice=f"point database.path at another file; ductile leaves {self.path} untouched",
            )

    def _migrate(self) -> None:
        steps = queries.migrations()
        latest = steps[-1][0]
        with self._tx() as db:
            db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = db.execute("SELECT max(version) FROM schema_version").fetchone()
            current = row[0] or 0
            if current > latest:
                raise SchemaTooNew(
                    f"{self.path}: database schema version {current} is newer than this ductile supports "
                    f"({latest}); upgrade ductile or use another database file"
                )
            for version, sql in steps:
                if version > current:
                    for statement in queries.split_statements(sql):
                        db.execute(statement)
                    db.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))

    def schema_version(self) -> int:
        return self._read("SELECT max(version) FROM schema_version")[0][0]

    def start_checkpointer(self, interval: float = CHECKPOINT_INTERVAL) -> None:
        """Copy the WAL into the database from a background thread with its own connection.

        Otherwise SQLite does it inside whichever commit takes the WAL past 1,000 pages: for a
        long-running writer (the gateway) that commit then stalls the event loop for 2-15 ms of
        copying and fsyncs, ~0.35 ms per job on average. A passive checkpoint never blocks the
        writer; the writer's own autocheckpoint stays as a backstop for a very large WAL.
        Idempotent; `close` stops it. A round runs a checkpoint only when there is something to
        copy (`checkpoint_due`): an idle gateway's thread then does one cheap read a second.
        """
        if self._checkpointer is not None:
            return
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10.0)
        conn.execute("PRAGMA synchronous=NORMAL")
        stop = threading.Event()

        def run() -> None:
            seen: int | None = None  # data_version after the last checkpoint that copied everything
            try:
                while not stop.wait(interval):
                    try:
                        version = conn.execute("PRAGMA data_version").fetchone()[0]
                        if not checkpoint_due(seen, version):
                            continue
                        busy, logged, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                        self.checkpoints += 1
                        seen = version if busy == 0 and copied >= logged else None
                    except sqlite3.Error as exc:  # busy or I/O: the next round (or the backstop) retries
                        seen = None
                        log.warning("background WAL checkpoint failed", extra={"error": str(exc)})
            finally:
                conn.close()

        with self._lock:
            self._db.execute(f"PRAGMA wal_autocheckpoint={WAL_BACKSTOP_PAGES}")
        thread = threading.Thread(target=run, name="ductile-wal-checkpoint", daemon=True)
        self._checkpointer = (stop, thread)
        thread.start()

    def close(self) -> None:
        if self._checkpointer is not None:
            stop, thread = self._checkpointer
            stop.set()
            thread.join(timeout=30.0)
            self._checkpointer = None
        self.close_strip_reader()
        with self._lock:
            try:
                self._db.execute("PRAGMA optimize")
            except sqlite3.Error:
                pass
            self._db.close()

    # -- job transitions --------------------------------------------------------------------
    def enqueue(
        self,
        job: NewJob,
        *,
        now: datetime,
        dedupe_since: datetime | None,
        enforce_dedupe: bool = True,
        schedule_state: ScheduleState | None = None,
    ) -> EnqueueResult:
        with self._tx() as db:
            return _enqueue_in(db, job, now, dedupe_since, enforce_dedupe, schedule_state)

    def enqueue_many(
        self, jobs: list[NewJob], *, now: datetime, dedupe_since: datetime | None, audit: BulkAction | None = None
    ) -> tuple[list[EnqueueResult], int | None]:
        """Several enqueues (and the bulk action's audit row) in one transaction: a bulk retry
        is all-or-nothing, and never without its audit record."""
        with self._tx() as db:
            results = [_enqueue_in(db, job, now, dedupe_since, True, None) for job in jobs]
            if audit is None:
                return results, None
            created = [r.job_id for r in results if r.created]
            audit = replace(audit, acted=len(created), skipped=audit.matched - len(created), job_ids=created)
            return results, insert_bulk_action(db, audit, now)

    def enqueue_webhook(
        self, job: WebhookJob, *, now: datetime, delivery_since: datetime | None, dedupe_since: datetime | None
    ) -> EnqueueResult:
        with self._tx() as db:
            return enqueue_delivery(db, job, now=now, delivery_since=delivery_since, dedupe_since=dedupe_since)

    def enqueue_webhooks(self, batch: list[Delivery]) -> list[EnqueueResult]:
        """Several deliveries in one transaction (the webhook writer's burst: one commit, not N).
        In order, so a redelivery in the same burst finds the job inserted just before it."""
        with self._tx() as db:
            return enqueue_deliveries(db, batch)

    def claim(
        self, *, now: datetime, excluded_plugins: Collection[str] = (), start: Callable[[Job], int | None] | None = None
    ) -> Job | None:
        with self._tx() as db:
            return self._claim_in(db, now, excluded_plugins, start)

    def _claim_in(
        self,
        db: sqlite3.Connection,
        now: datetime,
        excluded_plugins: Collection[str],
        start: Callable[[Job], int | None] | None,
    ) -> Job | None:
        stamp = to_text(now)
        row = db.execute(Q["claim_next"], {"now": stamp, "excluded": _json_list(excluded_plugins)}).fetchone()
        if row is None:
            return None
        return finishing.start_attempt(db, Q, _job(row), stamp, start)

    def finish(
        self,
        job: Job,
        record: AttemptRecord,
        decision: Decision,
        *,
        now: datetime,
        state_change: StateChange | None = None,
        events: list[dict[str, Any]] | None = None,
        routing: Routing | None = None,
    ) -> Job:
        if routing is not None:
            routing.reset()
        with self.breakers.after_commit() as breaker, self._tx() as db:
            return self._finish_in(db, breaker, job, record, decision, now, state_change, events, routing)

    def finish_then_claim(
        self,
        job: Job,
        record: AttemptRecord,
        decision: Decision,
        *,
        now: datetime,
        state_change: StateChange | None = None,
        routing: Routing | None = None,
        excluded_plugins: Collection[str] = (),
        start: Callable[[Job], int | None] | None = None,
    ) -> tuple[Job, Job | None]:
        if routing is not None:
            routing.reset()
        with self.breakers.after_commit() as breaker, self._tx() as db:
            done = self._finish_in(db, breaker, job, record, decision, now, state_change, None, routing)
            return done, self._claim_in(db, now, excluded_plugins, start)

    def _finish_in(
        self,
        db: sqlite3.Connection,
        breaker: Any,
        job: Job,
        record: AttemptRecord,
        decision: Decision,
        now: datetime,
        state_change: StateChange | None,
        events: list[dict[str, Any]] | None,
        routing: Routing | None,
    ) -> Job:
        stamp = to_text(now)
        if state_change is not None:
            finishing.apply_state(db, Q, job, state_change, stamp)
        if routing is not None:
            decision = finishing.route_and_hook(db, job, decision, routing, now)
        db.execute(Q["finish_attempt"], finishing.attempt_params(job, record, decision))
        query = Q["finish_job_retry"] if decision.retrying else Q["finish_job_terminal"]
        cursor = db.execute(query, finishing.job_params(job, decision, stamp))
        reason = finishing.transition_reason(job, record, decision)
        row = cursor.fetchone()  # the finished row (RETURNING): no second read of the job
        if row is None:
            raise StoreError(f"job {job.job_id} was not {job.status.value} when finishing attempt {job.attempt}")
        finishing.record_end(db, Q, job, decision, reason, stamp, events)
        if not decision.retrying:
            breaker.job_ended(db, job, decision.status, now)
        return _job(row)

    def enqueue_entries(self, entries: list[EntryJob], *, now: datetime, submitted_by: str) -> list[str]:
        with self._tx() as db:
            return insert_entries(db, entries, now, submitted_by)

    def cancel(self, job_id: str, *, reason: str, now: datetime) -> Job | None:
        with self.breakers.after_commit() as breaker, self._tx() as db:
            return finishing.cancel(db, Q, breaker, _job, job_id, reason, now)

    def record_pid(self, job_id: str, attempt: int, pid: int) -> None:
        with self._tx() as db:
            db.execute(Q["set_attempt_pid"], {"job_id": job_id, "attempt": attempt, "pid": pid})

    # -- change detection (the job, attempt and lineage reads are `sqlite_reads`) ----------
    def data_version(self) -> tuple[int, int]:
        """(`PRAGMA data_version`, `total_changes`) of the store's connection: the first changes
        when another connection commits (a CLI, another process), the second counts this
        connection's own changes. Together exact: equal means nobody committed a change."""
        with self._lock:
            try:
                return self._db.execute("PRAGMA data_version").fetchone()[0], self._db.total_changes
            except sqlite3.Error as exc:
                raise classify(exc, self.path, "read") or exc from exc

    # -- schedule state (its reads are `SqliteReads`) ---------------------------------------
    def put_schedule_state(self, state: ScheduleState) -> None:
        with self._tx() as db:
            db.execute(Q["put_schedule_state"], state.__dict__)

    # -- upkeep -----------------------------------------------------------------------------
    def _prune_tx(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._tx()
