"""Recording how an attempt ended, for the dispatcher (`dispatch.py`): decide the job's next
status, write it with `store.finish` (retried while the database refuses it) or with
`finish_then_claim` (the freed slot's next job claimed in the same transaction), then publish
the job's events and its one log line.

A mixin of `Dispatcher`: recording reads and updates the dispatcher's health (`unrecorded`,
`_fatal`), its claiming state and its hub.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ductile import compat_events, protocol
from ductile.dispatch_attempt import Ended, Started
from ductile.executor import discard
from ductile.jobs import AttemptRecord, Job, StateChange
from ductile.lifecycle import Decision, Outcome, Status, decide
from ductile.pipelines.hooks import HookFacts
from ductile.pipelines.runtime import publish_routing
from ductile.registry import Instance
from ductile.store import StateTooLarge, StoreDamaged, StoreError, StoreUnavailable
from ductile.store.offload import blocking, off_loop
from ductile.store.routing import Routing
from ductile.verdict import Verdict

if TYPE_CHECKING:
    from ductile.events import EventHub
    from ductile.pipelines.router import Settings
    from ductile.store import Store

log = logging.getLogger("ductile.dispatch")  # the name operators filter the dispatcher's lines by
FINISH_RETRY_FIRST = 0.05  # first pause before retrying a failed store.finish; doubles each time
FINISH_RETRY_MAX = 5.0  # cap of that pause (the retries go on until the write succeeds)
UNHEALTHY_AFTER = 3  # failed finish attempts before /healthz reports the gateway degraded
_STATUS_EVENT = {
    Status.SUCCEEDED: "job.succeeded",
    Status.FAILED: "job.failed",
    Status.TIMED_OUT: "job.timed_out",
    Status.DEAD: "job.dead",
    Status.QUEUED: "job.retrying",
}


@dataclass
class Refill:
    """The job a finishing job claimed in its finish's own transaction (`finish_then_claim`):
    `claimed` once that transaction committed (claiming found `job`, or nothing eligible)."""

    claimed: bool = False
    job: Job | None = None
    started: Started | None = None


class Recorder:
    """The dispatcher's record half (see the module docstring); `Dispatcher` supplies `wake`,
    `_start` (from `AttemptRunner`) and `_excluded`."""

    store: Store
    hub: EventHub
    routing: Settings
    max_workers: int
    draw: Callable[[], float]
    clock: Callable[[], datetime]
    running: dict[str, asyncio.Task[None]]
    unrecorded: dict[str, str]
    _claiming: bool
    _paused: StoreUnavailable | None
    _fatal: StoreDamaged | None

    def _decide(self, job: Job, verdict: Verdict, instance: Instance | None) -> Decision:
        backoff = instance.spec.retry.backoff_base if instance else 30.0
        return decide(
            verdict.outcome,
            attempt=job.attempt,
            max_attempts=job.max_attempts,
            backoff_base=backoff,
            now=self.clock(),
            draw=self.draw(),
            error=verdict.error,
        )

    async def _record(self, job: Job, ended: Ended, instance: Instance | None, refill: Refill | None = None) -> None:
        record, verdict, response = ended.record, ended.verdict, ended.response
        decision = self._decide(job, verdict, instance)
        change = None
        routing = ended.routing
        if routing is None and ended.reason is not None:
            routing = Routing(
                self.routing, hook=HookFacts(result=response.result if response else None, reason=ended.reason)
            )
        if decision.status is Status.SUCCEEDED and response is not None:
            change = _state_change(instance, job.command, response)
            if routing is not None:
                routing.events = response.events
                routing.result = response.result
        try:
            done = await self._finish_until_recorded(job, record, decision, change, routing, refill)
        except StateTooLarge as exc:
            verdict = Verdict(Outcome.FATAL, response, str(exc))
            decision = self._decide(job, verdict, instance)
            record = dataclasses.replace(record, outcome="fatal", error=str(exc))
            routing = None
            done = await self._finish_until_recorded(job, record, decision)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the response could not be stored as it is; end the attempt without it
            log.exception("could not store the plugin's response", extra={"job_id": job.job_id})
            error = _printable(f"gateway could not store the plugin's response: {type(exc).__name__}: {exc}")
            verdict = Verdict(Outcome.ERROR, None, error)
            decision = self._decide(job, verdict, instance)
            record = dataclasses.replace(record, outcome="error", error=error, response=None, logs=[])
            routing = None
            done = await self._finish_until_recorded(job, record, decision)
        if done is None:
            return
        if routing is not None:
            publish_routing(self.hub, routing)
            if routing.error is not None:
                decision = Decision(Status.FAILED, last_error=routing.error)
        log.info(
            "job %s",
            done.status.value,
            extra={
                "job_id": job.job_id,
                "plugin": job.plugin,
                "command": job.command,
                "attempt": job.attempt,
                "status": done.status.value,
                "duration_ms": record.duration_ms,
                **({"error": decision.last_error[:300]} if decision.last_error else {}),
            },
        )
        failure = compat_events.failure_fields(done) if done.status in (Status.FAILED, Status.TIMED_OUT) else {}
        data = self._emit(
            _STATUS_EVENT[done.status], done, duration_ms=record.duration_ms, attempt=job.attempt, **failure
        )
        for kind, extra in compat_events.finished_events(
            done,
            attempt=job.attempt,
            max_attempts=job.max_attempts,
            outcome=verdict.outcome,
            decision=decision,
            backoff_base=instance.spec.retry.backoff_base if instance else 30.0,
            duration_ms=record.duration_ms,
        ):
            if kind == "job.completed" and done.status is Status.SUCCEEDED:
                # {attempt, duration_ms} over the same job: exactly job.succeeded's fields in the
                # same order, so the (read-only) dict is shared rather than built again
                self.hub.publish(kind, data)
                continue
            self._emit(kind, done, **{"attempt": job.attempt, **extra})
        if done.status is Status.QUEUED or (routing is not None and (routing.children or routing.hooks)):
            # A retry falling due or jobs routed from this one: the run loop recomputes its wait
            # and claims. Otherwise `_execute` refills the freed slot itself and waking the loop
            # would only cost a pass through it for every job.
            self.wake()

    async def _finish_until_recorded(
        self,
        job: Job,
        record: AttemptRecord,
        decision: Decision,
        change: StateChange | None = None,
        routing: Routing | None = None,
        refill: Refill | None = None,
    ) -> Job | None:
        """`store.finish`, retried with growing pauses for as long as the database refuses it
        (a lock held by another process, a full disk). After a few failures /healthz reports the
        gateway degraded with the reason. Returns None when the file proves unusable (the
        gateway then stops) or the job was ended elsewhere (cancelled); raises StateTooLarge and
        anything that is not a storage fault."""
        failures = 0
        pause = FINISH_RETRY_FIRST
        try:
            while True:
                try:
                    # finish + next claim in one transaction where store calls run inline (SQLite).
                    # Not on PostgreSQL: one transaction then moves four job_counts rows (running-,
                    # succeeded+, queued-, running+) and concurrent ones deadlock on them (tried
                    # 2026-11-30: the 3-node test hit `deadlock detected`); fills stay serialized by `_fill`
                    if refill is not None and not failures and not blocking(self.store) and self._may_refill():
                        done = self._finish_and_claim(job, record, decision, change, routing, refill)
                    else:
                        done = await off_loop(
                            self.store,
                            self.store.finish,
                            job,
                            record,
                            decision,
                            now=self.clock(),
                            state_change=change,
                            routing=routing,
                        )
                except StoreUnavailable as exc:
                    failures += 1
                    if failures == 1:
                        log.warning(
                            "could not record the end of a job; retrying",
                            extra={"job_id": job.job_id, "attempt": job.attempt, "error": str(exc)},
                        )
                    if failures == UNHEALTHY_AFTER:
                        self.unrecorded[job.job_id] = (
                            f"could not record the end of job {job.job_id} (attempt {job.attempt}): "
                            f"{exc.reason}; retrying until the database accepts it"
                        )
                        log.error(
                            "could not record the end of a job; retrying until the database accepts it",
                            extra={"job_id": job.job_id, "attempt": job.attempt, "error": str(exc)},
                        )
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, FINISH_RETRY_MAX)
                    continue
                except StoreDamaged as exc:
                    self._fatal = exc
                    self.wake()
                    return None
                except StateTooLarge:
                    raise
                except StoreError as exc:
                    log.warning("attempt not recorded", extra={"job_id": job.job_id, "error": str(exc)})
                    return None
                if failures:
                    log.warning(
                        "recorded the end of the job after retrying", extra={"job_id": job.job_id, "failures": failures}
                    )
                return done
        finally:
            self.unrecorded.pop(job.job_id, None)

    def _may_refill(self) -> bool:
        """Whether the slot a finishing job frees (it still counts in `running`) may be refilled."""
        return (
            self._claiming and self._paused is None and self._fatal is None and len(self.running) - 1 < self.max_workers
        )

    def _finish_and_claim(
        self,
        job: Job,
        record: AttemptRecord,
        decision: Decision,
        change: StateChange | None,
        routing: Routing | None,
        refill: Refill,
    ) -> Job:
        """`store.finish_then_claim`: the freed slot's next job is claimed (and its plugin spawned)
        in the finish's own transaction, one commit instead of two. The new job's task starts in
        `_execute`'s cleanup, after this job's events. A spawned child whose claim did not commit
        is killed here; the caller retries the finish alone. Called inline, so only for a store
        whose calls run inline (SQLite; see the gate in `_finish_until_recorded`)."""
        box: list[Started] = []
        now = self.clock()
        try:
            done, claimed = self.store.finish_then_claim(
                job,
                record,
                decision,
                now=now,
                state_change=change,
                routing=routing,
                excluded_plugins=self._excluded(freeing=job.plugin),
                start=functools.partial(self._start, now=now, box=box),
            )
        except BaseException:
            if box and box[0].child is not None:
                discard(box[0].child)
            raise
        refill.claimed, refill.job, refill.started = True, claimed, box[0] if box else None
        return done

    def _emit(self, kind: str, job: Job, **extra: Any) -> dict[str, Any]:
        data = {
            "job_id": job.job_id,
            "plugin": job.plugin,
            "command": job.command,
            "status": job.status.value,
            "attempt": job.attempt,
            "submitted_by": job.submitted_by,
            **extra,
        }
        if job.last_error and job.status is not Status.SUCCEEDED:
            data["last_error"] = job.last_error[:500]
        if kind == "job.started" and log.isEnabledFor(logging.DEBUG):  # job.started carries the same facts
            log.debug("job running", extra={k: data[k] for k in ("job_id", "plugin", "command", "attempt", "status")})
        self.hub.publish(kind, data)
        return data


def _printable(text: str, limit: int = 2000) -> str:
    """An error message that can always be stored: no lone surrogates, bounded length."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")[:limit]


def _state_change(instance: Instance | None, command: str, response: protocol.Response) -> StateChange | None:
    updates = response.state_updates
    if instance is None or updates is None:
        return None
    for rule in instance.plugin.manifest.fact_outputs:
        if rule.when.get("command") in (None, command) and rule.from_ == "state_updates":
            return StateChange(data=updates, replace=True, fact_type=rule.fact_type)
    return StateChange(data=updates)
