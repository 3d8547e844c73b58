"""Several gateways on one PostgreSQL database: node rows, heartbeats, leadership, wake-ups.

Each node registers a row and heartbeats it; a node whose heartbeat lapsed past the lease is
reaped by a survivor (the DELETE that removes its row decides which survivor), and its running
jobs — found by the node recorded on their attempt — are recovered by the same status rule as
startup crash recovery. Exactly one node leads (fires schedules): it holds a session advisory
lock on a connection of its own, which the server releases the moment that connection dies
(a killed node loses leadership with its socket). Idle dispatchers wait on LISTEN, woken by the
NOTIFY every enqueue commits, instead of polling.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

from ductile.jobs import Job
from ductile.store import queries
from ductile.store.pg_listen import ListenThread
from ductile.store.sqlite import _job
from ductile.timeutil import to_text

log = logging.getLogger(__name__)
Q = queries.load("postgres")
CHANNEL = "ductile_jobs"


@dataclass(frozen=True)
class Orphan:
    """A running job whose node is gone, with the node and plugin pid its attempt recorded."""

    job: Job
    node_id: str | None
    pid: int | None


class PgCluster:
    """Node bookkeeping of `PostgresStore` (a mixin: needs `_tx`, `_read`, `node_id`, `url`, `key`)."""

    node_id: str
    url: str
    schema: str
    _tx: Any
    _read: Any
    key: Callable[[str], str]
    _listener: Listener | None = None
    _leader: LeaderLock | None = None

    def register_node(self, *, now: datetime, version: str) -> None:
        with self._tx() as db:
            db.execute(
                Q["node_register"],
                {
                    "node_id": self.node_id,
                    "host": socket.gethostname(),
                    "pid": os.getpid(),
                    "version": version,
                    "now": to_text(now),
                },
            )

    def heartbeat(self, *, now: datetime) -> bool:
        """Refresh this node's row; False when it was gone (reaped as dead: its jobs were
        recovered elsewhere), in which case the caller registers again."""
        with self._tx(durable=False) as db:
            cursor = db.execute(Q["node_heartbeat"], {"node_id": self.node_id, "now": to_text(now)})
            return cursor.rowcount == 1

    def leave_node(self) -> None:
        with self._tx() as db:
            db.execute(Q["node_leave"], {"node_id": self.node_id})

    def nodes(self) -> list[dict[str, Any]]:
        running = {r[0]: r[1] for r in self._read(Q["running_by_node"])}
        return [
            {
                "node_id": r["node_id"],
                "host": r["host"],
                "pid": r["pid"],
                "version": r["version"],
                "started_at": r["started_at"],
                "heartbeat_at": r["heartbeat_at"],
                "running": running.get(r["node_id"], 0),
            }
            for r in self._read(Q["nodes"])
        ]

    def reap_nodes(self, *, now: datetime, lease: float) -> list[dict[str, Any]]:
        """Delete the rows of nodes whose heartbeat is older than `lease` seconds; the ones this
        call deleted (no other survivor gets them)."""
        cutoff = to_text(now - timedelta(seconds=lease))
        with self._tx() as db:
            rows = db.execute(Q["reap_nodes"], {"cutoff": cutoff, "node_id": self.node_id}).fetchall()
        return [{"node_id": r[0], "host": r[1], "pid": r[2]} for r in rows]

    def orphaned_running(self) -> list[Orphan]:
        """Running jobs whose attempt's node has no row (reaped, or never registered)."""
        return [Orphan(_job(r), r["node_id"], r["pid"]) for r in self._read(Q["orphaned_running_jobs"])]

    # -- wake-ups and leadership ------------------------------------------------------------
    def listen(self, wake: Callable[[], None]) -> None:
        """Call `wake` (from a background thread) whenever any node queues a job here."""
        if self._listener is None:
            self._listener = Listener(self.url, self.schema, wake)
            self._listener.start()

    def leader_lock(self) -> LeaderLock:
        if self._leader is None:
            self._leader = LeaderLock(self.url, self.key("leader"))
        return self._leader

    def stop_cluster(self) -> None:
        if self._listener is not None:
            self._listener.stop()
            self._listener = None
        if self._leader is not None:
            self._leader.release()
            self._leader = None


class Listener(ListenThread):
    """A thread on its own connection, LISTENing for this installation's new jobs (the payload is
    the schema); wakes the dispatcher on each, and once on every (re)connect for anything queued
    while it was not listening."""

    def __init__(self, url: str, schema: str, wake: Callable[[], None]):
        super().__init__(
            url,
            CHANNEL,
            name="ductile-pg-listen",
            log=log,
            lost="lost the database notification connection; reconnecting",
        )
        self.schema = schema
        self.wake = wake

    def serve(self, conn: Any) -> None:
        self.wake()  # anything queued while we were not listening
        while not self.stopping.is_set():
            for note in conn.notifies(timeout=0.5):
                if note.payload == self.schema:
                    self.wake()


class LeaderLock:
    """`pg_try_advisory_lock` on a dedicated connection: held while that connection lives."""

    def __init__(self, url: str, key: str):
        self.url = url
        self.key = key
        self._conn: psycopg.Connection[Any] | None = None
        self._lock = threading.Lock()

    def try_acquire(self) -> bool:
        """True when this node leads: it already held the lock and its connection is alive, or
        it took the lock now. A lost connection means the lock is lost too."""
        with self._lock:
            try:
                if self._conn is not None:
                    self._conn.execute("SELECT 1")
                    return True
                conn = psycopg.connect(self.url, autocommit=True, connect_timeout=5)
                got = conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (self.key,)).fetchone()
                if got is not None and got[0]:
                    self._conn = conn
                    return True
                conn.close()
                return False
            except psycopg.Error as exc:
                log.warning("scheduler leadership check failed", extra={"error": str(exc)})
                self._drop()
                return False

    @property
    def held(self) -> bool:
        return self._conn is not None

    def release(self) -> None:
        with self._lock:
            self._drop()

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()  # the server releases a session lock with its session
            except psycopg.Error:
                pass
            self._conn = None
