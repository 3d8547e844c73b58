"""Routing and hook writes, applied inside the store transaction that finishes the parent job.

This is what makes child creation exactly-once: the parent's terminal status, its stored events,
every child job and context row, and its hook jobs commit together or not at all (a kill -9 at any
moment leaves the parent `running` with no children, and crash recovery runs it again), and a
redelivered event finds its child through the unique (parent, event, plugin, command, route_key)
guard. The decisions come from `ductile.pipelines.router` / `.hooks`; this module only reads
what they need and writes what they decide.

Both backends share this module: `db` is the open transaction's connection (sqlite3 or psycopg;
both have `execute(sql, params)` returning a cursor with `fetchone`, and rows readable by name and
position), and `dialect` carries that backend's named queries and driver error type.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ductile.jobs import Job
from ductile.lifecycle import Decision, Status
from ductile.pipelines import hooks as hooklib
from ductile.pipelines import router
from ductile.pipelines.compile import SWITCH_PLUGIN, Dispatch
from ductile.store import queries
from ductile.timeutil import to_text

log = logging.getLogger(__name__)
Q = queries.load("sqlite")


@dataclass(frozen=True)
class Dialect:
    """What differs between backends here: the named queries and the driver's error base class."""

    q: Mapping[str, str]
    errors: tuple[type[BaseException], ...]


SQLITE = Dialect(Q, (sqlite3.Error,))


def _dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@dataclass
class Routing:
    """The dispatcher's routing request for one `finish`, and (filled by the store) what happened.

    `events` are the response's events (or the switch's rewritten event); `step_event_kind` names
    the failure text for the synthetic step event."""

    settings: router.Settings
    events: list[dict[str, Any]] = field(default_factory=list)
    result: Any = None
    hook: hooklib.HookFacts | None = None
    synthesize: bool = True  # a silent pipeline step routes ductile.step.succeeded
    # filled in by the store:
    children: list[dict[str, Any]] = field(default_factory=list)
    dropped: list[dict[str, Any]] = field(default_factory=list)
    unmatched: list[dict[str, Any]] = field(default_factory=list)
    hooks: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    def reset(self) -> None:
        """Forget what an earlier try recorded: a `finish` rolled back by a storage fault is
        retried with the same request, and only the committed try may be published."""
        self.children, self.dropped, self.unmatched, self.hooks, self.error = [], [], [], [], None


def load_source(db: Any, context_id: str | None, dialect: Dialect = SQLITE) -> router.SourceContext | None:
    if not context_id:
        return None
    row = db.execute(dialect.q["get_context"], {"id": context_id}).fetchone()
    if row is None:
        return None
    return router.SourceContext(
        id=row["id"],
        pipeline=row["pipeline_name"],
        step_id=row["step_id"],
        instance_id=row["instance_id"],
        accumulated=json.loads(row["accumulated"]),
    )


def route_completion(db: Any, job: Job, routing: Routing, now: datetime, dialect: Dialect = SQLITE) -> str | None:
    """§3.1 steps 2-3 for a job that succeeded: store and route its events in order. Returns the
    routing error text (the job then fails, children of earlier events stay), else None."""
    source = load_source(db, job.event_context_id, dialect)
    is_step = source is not None and bool(source.pipeline)
    events = router.events_to_route(routing.events, routing.result, is_step and routing.synthesize)
    synthetic = not routing.events
    stamp = to_text(now)
    stamped = [router.stamp(e, now, job.plugin) for e in events]
    for event in stamped:
        db.execute(
            dialect.q["insert_routed_event"],
            {
                "job_id": job.job_id,
                "instance": job.plugin,
                "type": event["type"],
                "payload": _dumps(event.get("payload")),
                "dedupe_key": event.get("dedupe_key"),
                "now": stamp,
                "event_id": event["event_id"],
            },
        )
    for event in stamped:
        db.execute("SAVEPOINT route_event")
        try:
            created = _route_event(db, job, event, source, routing, now, dialect)
        except router.RoutingError as exc:
            db.execute("ROLLBACK TO route_event")
            db.execute("RELEASE route_event")
            what = "step-succeeded event" if synthetic and is_step else "events"
            return f"failed to route {what}: {exc}"
        db.execute("RELEASE route_event")
        routing.children.extend(created)
    return None


def _route_event(
    db: Any,
    job: Job,
    event: dict[str, Any],
    source: router.SourceContext | None,
    routing: Routing,
    now: datetime,
    dialect: Dialect,
) -> list[dict[str, Any]]:
    settings = routing.settings
    found, dropped = router.candidates(
        settings.graph, event, job.plugin, source, max_chain_depth=settings.max_chain_depth
    )
    for d in dropped:
        routing.dropped.append(
            {"job_id": job.job_id, "pipeline": d.pipeline, "reason": d.reason, "event_type": event["type"]}
        )
    if not found:
        log.debug("no route matched for event", extra={"job_id": job.job_id, "event_type": event["type"]})
        routing.unmatched.append({"job_id": job.job_id, "event_type": event["type"], "event_id": event["event_id"]})
        return []
    envelope = router.child_envelope(event, job.plugin, source)
    dedupe_key = envelope.get("dedupe_key")
    stamp = to_text(now)
    roots: dict[tuple[str, str], router.ContextRow] = {}
    created: list[dict[str, Any]] = []
    for c in found:
        d = c.dispatch
        if dedupe_key and _admission_replay(db, d, dedupe_key, now, settings.dedupe_ttl, dialect):
            log.info(
                "routed dispatch skipped: dedupe key already admitted",
                extra={"job_id": job.job_id, "plugin": d.plugin, "dedupe_key": dedupe_key},
            )
            continue
        existing = db.execute(
            dialect.q["child_exists"],
            {
                "parent_job_id": job.job_id,
                "source_event_id": envelope["event_id"],
                "plugin": d.plugin,
                "command": d.command,
                "route_key": d.route_key,
            },
        ).fetchone()
        if existing is not None:
            log.info(
                "routed dispatch skipped: child already exists for this event and route",
                extra={"job_id": job.job_id, "child": existing[0], "route_key": d.route_key},
            )
            continue
        rows = router.plan_contexts(c, settings.graph, source, envelope.get("payload"), roots)
        insert_contexts(db, rows, stamp, dialect)
        context_id = rows[-1].id
        child_id = insert_child(
            db,
            plugin=d.plugin,
            command=d.command,
            payload=envelope,
            max_attempts=settings.attempts_for(d.plugin),
            submitted_by=router.ROUTE_SUBMITTER,
            dedupe_key=dedupe_key,
            parent_job_id=job.job_id,
            source_event_id=envelope["event_id"],
            event_context_id=context_id,
            route_key=d.route_key,
            pipeline=d.pipeline,
            step_id=d.step_id,
            now=now,
            dialect=dialect,
        )
        created.append(
            {
                "job_id": child_id,
                "parent_job_id": job.job_id,
                "plugin": d.plugin,
                "command": d.command,
                "pipeline": d.pipeline,
                "step_id": d.step_id,
                "event_context_id": context_id,
            }
        )
    return created


def _admission_replay(db: Any, d: Dispatch, key: str, now: datetime, ttl: float, dialect: Dialect) -> bool:
    """§3.4: the same (plugin, command, dedupe_key) queued/running, or succeeded within the TTL."""
    args = {"dedupe_key": key, "plugin": d.plugin, "command": d.command}
    if db.execute(dialect.q["find_duplicate_active"], args).fetchone() is not None:
        return True
    since = to_text(now - timedelta(seconds=ttl))
    return db.execute(dialect.q["find_duplicate_succeeded"], {**args, "since": since}).fetchone() is not None


def insert_child(
    db: Any,
    *,
    plugin: str,
    command: str,
    payload: Any,
    max_attempts: int,
    submitted_by: str,
    now: datetime,
    dedupe_key: str | None = None,
    parent_job_id: str | None = None,
    source_event_id: str | None = None,
    event_context_id: str | None = None,
    route_key: str | None = None,
    pipeline: str | None = None,
    step_id: str | None = None,
    dialect: Dialect = SQLITE,
) -> str:
    job_id = str(uuid.uuid4())
    stamp = to_text(now)
    db.execute(
        dialect.q["insert_job"],
        {
            "job_id": job_id,
            "plugin": plugin,
            "command": command,
            "payload": _dumps(payload),
            "max_attempts": max_attempts,
            "submitted_by": submitted_by,
            "dedupe_key": dedupe_key,
            "created_at": stamp,
            "parent_job_id": parent_job_id,
            "context": None,
            "source_event_id": source_event_id,
            "event_context_id": event_context_id,
            "route_key": route_key,
            "pipeline": pipeline,
            "step_id": step_id,
        },
    )
    db.execute(
        dialect.q["insert_transition"],
        {
            "job_id": job_id,
            "from_status": None,
            "to_status": "queued",
            "reason": f"enqueued by {submitted_by}",
            "at": stamp,
        },
    )
    return job_id


def fire_hooks(
    db: Any, job: Job, decision: Decision, routing: Routing, now: datetime, dialect: Dialect = SQLITE
) -> None:
    """§5: at the terminal decision of a root job whose instance has notify_on_complete."""
    settings = routing.settings
    facts = routing.hook
    if facts is None or decision.retrying or job.event_context_id or job.plugin == SWITCH_PLUGIN:
        return
    if job.plugin not in settings.notify:
        return
    signal = hooklib.SIGNALS.get(decision.status)
    if signal is None or not settings.graph.hook_pipelines(signal):
        return
    payload = hooklib.hook_payload(
        job.job_id, job.plugin, job.command, decision.status, facts, decision.last_error, job.max_attempts
    )
    dispatches = hooklib.hook_dispatches(settings.graph, signal, job.plugin, payload)
    if not dispatches:
        return
    if not _hook_depth_allows(db, job.job_id, settings.hook_max_depth, dialect):
        log.warning(
            "hook enqueue refused: max depth reached",
            extra={"job_id": job.job_id, "plugin": job.plugin, "hook_max_depth": settings.hook_max_depth},
        )
        return
    envelope = hooklib.hook_envelope(signal, payload)
    for d in dispatches:
        db.execute("SAVEPOINT hook_job")
        try:
            child_id = insert_child(
                db,
                plugin=d.plugin,
                command=d.command,
                payload=envelope,
                max_attempts=settings.attempts_for(d.plugin),
                submitted_by=router.HOOK_SUBMITTER,
                parent_job_id=job.job_id,
                route_key="",
                pipeline=d.pipeline,
                step_id=d.step_id,
                now=now,
                dialect=dialect,
            )
        except dialect.errors as exc:
            db.execute("ROLLBACK TO hook_job")
            db.execute("RELEASE hook_job")
            log.error("hook enqueue failed", extra={"job_id": job.job_id, "pipeline": d.pipeline, "error": str(exc)})
            continue
        db.execute("RELEASE hook_job")
        routing.hooks.append(
            {
                "job_id": child_id,
                "parent_job_id": job.job_id,
                "plugin": d.plugin,
                "command": d.command,
                "pipeline": d.pipeline,
                "step_id": d.step_id,
                "signal": signal,
            }
        )


def _hook_depth_allows(db: Any, job_id: str, max_depth: int, dialect: Dialect) -> bool:
    """Walk parents while submitted_by == hook; a missing parent refuses (fail closed)."""
    hops = 0
    current: str | None = job_id
    while current is not None:
        row = db.execute(dialect.q["job_lineage_step"], {"job_id": current}).fetchone()
        if row is None:
            return False
        if row["submitted_by"] != router.HOOK_SUBMITTER:
            break
        hops += 1
        if hops + 1 > max_depth:
            return False
        current = row["parent_job_id"]
        if current is None:
            return False
    return hops + 1 <= max_depth


def terminal_decision(decision: Decision, error: str) -> Decision:
    return Decision(Status.FAILED, last_error=error)


@dataclass(frozen=True)
class EntryJob:
    """One entry job of `POST /pipeline`, with the context rows to create before it."""

    contexts: tuple[router.ContextRow, ...]
    plugin: str
    command: str
    payload: Any
    max_attempts: int
    pipeline: str
    step_id: str


def insert_contexts(db: Any, rows: Sequence[Any], stamp: str, dialect: Dialect = SQLITE) -> None:
    """Context rows planned by the router (routed children and API entries alike)."""
    for row in rows:
        db.execute(
            dialect.q["insert_context"],
            {
                "id": row.id,
                "parent_id": row.parent_id,
                "pipeline": row.pipeline,
                "step_id": row.step_id,
                "instance_id": row.instance_id,
                "accumulated": _dumps(row.accumulated),
                "now": stamp,
            },
        )


def insert_entries(
    db: Any, entries: list[EntryJob], now: datetime, submitted_by: str, dialect: Dialect = SQLITE
) -> list[str]:
    """Every context row and entry job of one pipeline start (one transaction: all or none)."""
    stamp = to_text(now)
    ids = []
    for entry in entries:
        insert_contexts(db, entry.contexts, stamp, dialect)
        ids.append(
            insert_child(
                db,
                plugin=entry.plugin,
                command=entry.command,
                payload=entry.payload,
                max_attempts=entry.max_attempts,
                submitted_by=submitted_by,
                event_context_id=entry.contexts[-1].id,
                pipeline=entry.pipeline,
                step_id=entry.step_id,
                now=now,
                dialect=dialect,
            )
        )
    return ids
