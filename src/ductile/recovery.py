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
from ductile.store import Store
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
    recovered = []
    pids = store.running_pids()
    for job in store.running_jobs():
        instance = registry.get(job.plugin)
        pid = pids.get(job.job_id)
        if pid is not None and kill_orphan(pid):
            log.warning(
                "killed a plugin process left by the previous gateway", extra={"job_id": job.job_id, "pid": pid}
            )
        error = f"gateway stopped while attempt {job.attempt} was running (recovered at startup)"
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
        recovered.append(store.finish(job, record, decision, now=now, routing=hooks))
        log.warning(
            "recovered job",
            extra={"job_id": job.job_id, "plugin": job.plugin, "attempt": job.attempt, "status": decision.status.value},
        )
    return recovered
