"""The PostgreSQL store's dispatcher verbs (a mixin of `PostgresStore`): claim, finish, and
finish-then-claim, the one transaction a worker uses when it frees up with jobs still queued.

Kept apart from `postgres.py` so each module stays readable. What differs from SQLite: several
nodes claim at once (`FOR UPDATE SKIP LOCKED` on the candidate, per-instance limits held
cluster-wide by a transaction advisory lock, the node recorded on the attempt), `finish` locks the
job row first (a node recovering a lapsed lease and this node take turns), and commits that
queue work NOTIFY the other nodes.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

import psycopg

from ductile.jobs import AttemptRecord, Job, StateChange
from ductile.lifecycle import Decision
from ductile.store import finishing, queries
from ductile.store.base import StoreError
from ductile.store.breaker import Breakers
from ductile.store.routing import Dialect, Routing
from ductile.store.sqlite import _job
from ductile.timeutil import to_text

Q = queries.load("postgres")
PG = Dialect(Q, (psycopg.Error,))
Db = psycopg.Connection[Any]
CLAIM_TRIES = 16  # candidates one claim looks at before giving up until the next wake


class PgDispatch:
    """Needs `_tx`, `_notify`, `key`, `node_id`, `claim_limits`, `breakers` and `_claiming`
    from `PostgresStore`."""

    _tx: Callable[..., AbstractContextManager[Db]]
    _notify: Callable[[Db], None]
    key: Callable[[str], str]
    node_id: str
    claim_limits: Mapping[str, int]
    breakers: Breakers
    _claiming: Any  # threading.local with `conn`: see PostgresStore.__init__

    def claim(
        self, *, now: datetime, excluded_plugins: Collection[str] = (), start: Callable[[Job], int | None] | None = None
    ) -> Job | None:
        """The oldest eligible job no other node holds, within its instance's cluster-wide limit.

        The candidate row is locked with SKIP LOCKED (other nodes pass over it). For an instance
        with a limit, the first candidate's instance lock is waited for; later ones are only
        tried, so a claim never waits while holding an instance lock (no deadlock between nodes).
        `start` spawns the plugin inside this transaction, once the job row is ours; its pid goes
        on the attempt row in the same commit (as `SqliteStore.claim`)."""
        with self._tx(durable=False, queue_scan=True) as db:
            return self._claim_in(db, now, excluded_plugins, start)

    def _claim_in(
        self, db: Db, now: datetime, excluded_plugins: Collection[str], start: Callable[[Job], int | None] | None
    ) -> Job | None:
        stamp = to_text(now)
        excluded = list(excluded_plugins)
        passed: list[str] = []
        holding = False
        for _ in range(CLAIM_TRIES):
            row = db.execute(Q["claim_candidate"], {"now": stamp, "excluded": excluded, "passed": passed}).fetchone()
            if row is None:
                return None
            job_id, plugin = row[0], row[1]
            limit = self.claim_limits.get(plugin)
            if limit is not None:
                if not holding:
                    db.execute(Q["plugin_claim_lock"], {"key": self.key(f"plugin:{plugin}")})
                    holding = True
                elif not db.execute(
                    "SELECT pg_try_advisory_xact_lock(hashtext(%s))", (self.key(f"plugin:{plugin}"),)
                ).fetchone()[0]:
                    excluded.append(plugin)
                    continue
                if db.execute(Q["running_of_plugin"], {"plugin": plugin}).fetchone()[0] >= limit:
                    excluded.append(plugin)
                    continue
            row = db.execute(Q["claim_job"], {"job_id": job_id, "now": stamp}).fetchone()
            if row is None:  # a job with its dedupe key started meanwhile
                passed.append(job_id)
                continue
            self._claiming.conn = db  # `start` reads state and contexts in this transaction
            try:
                return finishing.start_attempt(db, Q, _job(row), stamp, start, self.node_id)
            finally:
                self._claiming.conn = None
        return None

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
        with self.breakers.after_commit() as breaker, self._tx(durable=False) as db:
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
        """One transaction: `start` reads the plugin state and event contexts in it (`_claiming`),
        so it sees the state this finish merged and the contexts of jobs it routed. The
        dispatcher does not call this on PostgreSQL (dispatch_record: concurrent ones deadlock on
        the job_counts rows they move in different orders); the store contract tests do."""
        if routing is not None:
            routing.reset()
        with self.breakers.after_commit() as breaker, self._tx(durable=False, queue_scan=True) as db:
            done = self._finish_in(db, breaker, job, record, decision, now, state_change, None, routing)
            return done, self._claim_in(db, now, excluded_plugins, start)

    def _finish_in(
        self,
        db: Db,
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
        # Lock the job row first: a node recovering it (lease lapsed) and this node finishing
        # it take turns, and the status/attempt guard below lets exactly one of them win.
        current = db.execute("SELECT status, attempt FROM jobs WHERE job_id = %s FOR UPDATE", (job.job_id,)).fetchone()
        if current is None or current[0] != job.status.value or current[1] != job.attempt:
            raise StoreError(f"job {job.job_id} was not {job.status.value} when finishing attempt {job.attempt}")
        if state_change is not None:
            # FOR UPDATE: two nodes finishing jobs of one instance merge one after the other.
            finishing.apply_state(db, Q, job, state_change, stamp, lock=" FOR UPDATE")
        if routing is not None:
            decision = finishing.route_and_hook(db, job, decision, routing, now, PG)
        db.execute(Q["finish_attempt"], finishing.attempt_params(job, record, decision))
        query = Q["job_to_retry"] if decision.retrying else Q["job_to_terminal"]
        cursor = db.execute(query, finishing.job_params(job, decision, stamp))
        reason = finishing.transition_reason(job, record, decision)
        if cursor.rowcount != 1:
            raise StoreError(f"job {job.job_id} was not {job.status.value} when finishing attempt {job.attempt}")
        ended = _job(cursor.fetchone())  # the row as updated (RETURNING): nothing below changes it
        finishing.record_end(db, Q, job, decision, reason, stamp, events)
        if not decision.retrying:
            breaker.job_ended(db, job, decision.status, now)
        if decision.retrying or (routing is not None and (routing.children or routing.hooks)):
            self._notify(db)
        return ended
