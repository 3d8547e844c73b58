"""PostgreSQL implementation of the store: psycopg 3 with a connection pool, named queries.

The same contract as `SqliteStore` (see `store/base.py`), with the same tables, the same text
formats and the same named statements (`sql/postgres.sql` beside `sql/sqlite.sql`), so the
routing writes (`routing.py`) and lineage reads (`sqlite_reads.py`) are shared code. What only
PostgreSQL can do lives here and in `pg_cluster.py`: claims that several gateways make at once
(`FOR UPDATE SKIP LOCKED`, per-instance limits held cluster-wide by a transaction advisory lock),
the node that runs each attempt, and `NOTIFY` on every commit that queues a job.

Connections run in autocommit; every write is one explicit transaction (`_tx`), every read one
statement. A search_path in the URL (`?options=-csearch_path%3Dname`) selects the schema, which is
how tests and several installations share one server; advisory lock keys and notifications
carry the schema name so they never cross installations.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from ductile.store import queries
from ductile.store.breaker import SqliteBreakers
from ductile.store.errors import StoreUnavailable
from ductile.store.pg_cluster import PgCluster
from ductile.store.pg_dispatch import PgDispatch
from ductile.store.pg_enqueue import PgEnqueue
from ductile.store.pg_errors import PgDamaged, classify, redact_url
from ductile.store.pg_schedules import PgSchedules
from ductile.store.pg_schema import migrate, row_factory
from ductile.store.pg_ui_sessions import PgUiSessions
from ductile.store.postgres_reads import PostgresReads
from ductile.store.pruning import Pruning
from ductile.store.routing import Dialect
from ductile.store.sqlite import _job
from ductile.store.sqlite_actions import SqliteActions
from ductile.store.stopwatch import StopwatchReads
from ductile.store.strips import StripReads

log = logging.getLogger(__name__)
Q = queries.load("postgres")
PG = Dialect(Q, (psycopg.Error,))
CHANNEL = "ductile_jobs"  # NOTIFY channel; the payload is the schema, so installations never mix
# One round trip: an asynchronous commit, and the FIFO index walk for claim_candidate.
_CLAIM_SETTINGS = (
    "SELECT set_config('synchronous_commit', 'off', true), set_config('enable_sort', 'off', true), "
    "set_config('enable_bitmapscan', 'off', true)"
)


class _Claiming(threading.local):
    conn: psycopg.Connection[Any] | None = None


class PostgresStore(
    PgDispatch,
    PgCluster,
    PgEnqueue,
    PgSchedules,
    PgUiSessions,
    PostgresReads,
    StripReads,
    StopwatchReads,
    SqliteActions,
    SqliteBreakers,
    Pruning,
):
    """See `ductile.store.base.Store` for the contract of each method; reads are in
    `postgres_reads.PostgresReads`, claims and finishes in `pg_dispatch.PgDispatch`, enqueues and
    cancels in `pg_enqueue.PgEnqueue`, node
    bookkeeping in `pg_cluster.PgCluster`, dashboard sessions in `pg_ui_sessions.PgUiSessions`; retry links / bulk audit (`SqliteActions`) and the
    circuit breaker (`SqliteBreakers`) are the SQLite store's code run with this store's queries."""

    _q = Q
    _dialect = "postgres"  # strips.StripReads: sql/strips_postgres.sql
    _to_job = staticmethod(_job)

    def __init__(self, url: str, *, pool_size: int = 4, connect_timeout: float = 10.0, node_id: str | None = None):
        self.url = url
        self.target = redact_url(url)
        self.write_fault: StoreUnavailable | None = None
        # Instance → most jobs of it running at once across every node (parallelism; 1 for
        # concurrency_safe: false). Set by the gateway; without it only excluded_plugins apply.
        self.claim_limits: Mapping[str, int] = {}
        self.node_id = node_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.notify_enabled = True
        # The claim transaction's connection while its `start` builds the request on this thread
        # (pg_dispatch._claim_in): the state and context reads run in it — they see what the
        # same transaction's finish wrote, and a claim never needs a second pooled connection.
        self._claiming = _Claiming()
        # Where the gateway's event loop runs this store's calls (store/offload.py): one thread
        # fewer than the pool has connections, so the heartbeat thread always finds one even
        # while every worker waits on a lock. Threads start on first use (the CLI uses none).
        self.executor = ThreadPoolExecutor(max_workers=max(1, pool_size - 1), thread_name_prefix="ductile-pg")
        try:
            self._pool = ConnectionPool(
                url,
                min_size=1,
                max_size=max(1, pool_size),
                timeout=connect_timeout,
                kwargs={"autocommit": True, "row_factory": row_factory, "connect_timeout": int(connect_timeout)},
                open=False,
                name="ductile-store",
            )
            self._pool.open(wait=True, timeout=connect_timeout)
        except Exception as exc:
            fault = classify(exc, self.target, "write")
            if fault is None:
                raise
            raise fault from exc
        try:
            self.schema = self._read("SELECT current_schema()")[0][0]
            if self.schema is None:
                raise PgDamaged(
                    self.target,
                    "no schema on the search_path exists",
                    advice="create the schema named in the URL's search_path, or drop the option",
                )
            self._migrate()
        except BaseException:
            self._pool.close()
            raise

    # -- plumbing ---------------------------------------------------------------------------
    def key(self, name: str) -> str:
        """An advisory-lock key private to this installation (schema) of ductile."""
        return f"ductile:{self.schema}:{name}"

    @contextmanager
    def _tx(self, *, durable: bool = True, queue_scan: bool = False) -> Iterator[psycopg.Connection[Any]]:
        """One transaction. `durable=False` commits without waiting for the WAL flush
        (synchronous_commit off for this transaction only): used for claims, pids, finishes and
        upkeep, whose loss in a *server* crash only means a job runs again (at-least-once, as
        after any crash). Enqueues and cancels stay durable: an acknowledged job is never lost.
        SQLite's WAL mode with synchronous=NORMAL makes the same trade for every commit.
        `queue_scan` (claims) also walks the queued-jobs index in FIFO order instead of letting
        the planner sort every queued row: with stale statistics (a fresh or fast-moving queue) it
        otherwise picks a bitmap scan plus sort, and each claim costs O(queued jobs)."""
        try:
            with self._pool.connection() as conn, conn.transaction():
                if queue_scan:
                    conn.execute(_CLAIM_SETTINGS)
                elif not durable:
                    conn.execute("SET LOCAL synchronous_commit = off")
                yield conn
        except Exception as exc:
            fault = classify(exc, self.target, "write")
            if fault is None:
                raise
            if isinstance(fault, StoreUnavailable):
                self.write_fault = fault
            raise fault from exc
        self.write_fault = None

    def _read(self, sql: str, params: Any = ()) -> list[Any]:
        try:
            claiming = self._claiming.conn  # set only while a claim's `start` runs on this thread
            if claiming is not None:
                return claiming.execute(sql, params).fetchall()
            with self._pool.connection() as conn:
                return conn.execute(sql, params).fetchall()
        except Exception as exc:
            raise classify(exc, self.target, "read") or exc from exc

    def _notify(self, db: psycopg.Connection[Any]) -> None:
        """Wake idle dispatchers on every node once this transaction commits (NOTIFY is
        transactional: nothing is sent for a rollback)."""
        if self.notify_enabled:
            db.execute("SELECT pg_notify(%s, %s)", (CHANNEL, self.schema))

    def probe_write(self) -> bool:
        try:
            with self._tx() as db:
                db.execute("UPDATE store_probe SET n = 1 - n WHERE id = 1")
        except StoreUnavailable:
            return False
        self.write_fault = None
        return True

    def _migrate(self) -> None:
        with self._tx() as db:
            migrate(db, lock_key=self.key("migrate"), schema=self.schema, target=self.target)

    def schema_version(self) -> int:
        return self._read("SELECT max(version) FROM schema_version")[0][0]

    def start_checkpointer(self) -> None:
        """PostgreSQL checkpoints by itself; nothing to start."""

    def close(self) -> None:
        self.stop_cluster()
        self.executor.shutdown(wait=False, cancel_futures=True)
        self._pool.close()

    # -- job transitions (enqueues and cancels: pg_enqueue.PgEnqueue) --------------------------
    def record_pid(self, job_id: str, attempt: int, pid: int) -> None:
        with self._tx(durable=False) as db:
            db.execute(Q["set_attempt_pid"], {"job_id": job_id, "attempt": attempt, "pid": pid})

    # -- upkeep -----------------------------------------------------------------------------
    def _prune_tx(self) -> AbstractContextManager[psycopg.Connection[Any]]:
        return self._tx(durable=False)  # a prune lost to a crash is redone by the next round
