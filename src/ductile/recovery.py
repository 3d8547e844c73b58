"""Crash recovery: jobs a dead gateway left `running` are ended before anything else runs."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from datetime import datetime

from ductile.executor import kill_orphan
from ductile.jobs import AttemptRecord, Job
from ductile.lifecycle import Outcome, decide
from ductile.pipelines.hooks import HookFacts
from ductile.pipelines.router import Settings
from ductile.registry import Registry
from ductile.store import StateTooLarge, Store, StoreDamaged, StoreError, StoreUnavailable
from ductile.store.routing import Routing
from ductile.timeutil import to_text

log = logging.getLogger("ductile.dispatch")  # the name operators already filter recovery lines by


def recover(
    store: Store,
    registry: Registry,
    *,
    now: datetime,
    draw: Callable[[], float] = random.random,
    routing: Settings | None = None,
) -> list[Job]:
    """Jobs left `running` by a gateway that died: re-queue as the next attempt, or dead when none
    left (a dead root job of a notify_on_complete instance fires `job.failed` hooks, §5.2)."""
    pids = store.running_pids()
    return recover_jobs(
        store,
        registry,
        [(job, pids.get(job.job_id)) for job in store.running_jobs()],
        now=now,
        draw=draw,
        routing=routing,
    )


def recover_jobs(
    store: Store,
    registry: Registry,
    jobs: list[tuple[Job, int | None]],
    *,
    now: datetime,
    draw: Callable[[], float] = random.random,
    routing: Settings | None = None,
    why: str = "gateway stopped while attempt {attempt} was running (recovered at startup)",
) -> list[Job]:
    """The status rule for running jobs whose gateway is gone (at startup, or a lapsed node on
    PostgreSQL): kill the plugin process left behind (`pid`, None when not on this host), then
    re-queue as the next attempt or end dead. A job another node finished or recovered first
    (`StoreError` from finish) is skipped."""
    recovered = []
    for job, pid in jobs:
        instance = registry.get(job.plugin)
        if pid is not None and kill_orphan(pid):
            log.warning(
                "killed a plugin process left by the previous gateway", extra={"job_id": job.job_id, "pid": pid}
            )
        error = why.format(attempt=job.attempt)
        decision = decide(
            Outcome.ABANDONED,
            attempt=job.attempt,
            max_attempts=job.max_attempts,
            backoff_base=instance.spec.retry.backoff_base if instance else 30.0,
            now=now,
            draw=draw(),
            error=error,
        )
        stamp = to_text(now)
        record = AttemptRecord("abandoned", job.started_at or stamp, stamp, 0.0, error=error)
        hooks = Routing(routing, hook=HookFacts(recovery=True)) if routing is not None else None
        try:
            recovered.append(store.finish(job, record, decision, now=now, routing=hooks))
        except StoreError as exc:
            if isinstance(exc, StoreUnavailable | StoreDamaged | StateTooLarge):
                raise
            log.info("job already ended elsewhere; not recovered", extra={"job_id": job.job_id, "error": str(exc)})
            continue
        log.warning(
            "recovered job",
            extra={"job_id": job.job_id, "plugin": job.plugin, "attempt": job.attempt, "status": decision.status.value},
        )
    return recovered
