"""The dispatcher: claim queued jobs, run each as a plugin process, record what happened.

Concurrency: at most `max_workers` jobs at once and at most `parallelism` per instance. It wakes
at once when a job is enqueued in-process, when a retry falls due, and on a short poll to notice
jobs enqueued by other processes (the CLI) through the same database file.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ductile import compat_events, protocol
from ductile.events import EventHub
from ductile.executor import Child, RunResult, discard, plugin_env, spawn, spawn_failure, supervise
from ductile.jobs import AttemptRecord, Job, StateChange
from ductile.lifecycle import Decision, Outcome, Status, decide
from ductile.pipelines import delivery
from ductile.pipelines.compile import SWITCH_PLUGIN
from ductile.pipelines.hooks import HookFacts
from ductile.pipelines.router import Settings
from ductile.pipelines.runtime import default_settings, hook_reason, load_source, publish_routing
from ductile.recovery import recover
from ductile.registry import Instance, Registry
from ductile.store import StateTooLarge, Store, StoreDamaged, StoreError, StoreUnavailable
from ductile.store.offload import blocking, off_loop
from ductile.store.routing import Routing
from ductile.timeutil import add_seconds, to_text, utcnow
from ductile.verdict import Verdict, judge

__all__ = ["Dispatcher", "Verdict", "default_settings", "judge", "publish_routing", "recover"]

log = logging.getLogger(__name__)
POLL_INTERVAL = 0.25
PROBE_INTERVAL = 2.0  # seconds between write probes while the database cannot be written
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
class Started:
    """What `_start` did inside the claim's transaction, for `_run_job` to carry on with: the
    spawned child and its request, or why nothing was spawned."""

    spawned: datetime
    child: Child | None = None
    request: bytes = b""
    timeout: float = 0.0
    error: str | None = None  # unknown target or a delivery error: failed at once (§3.1)
    spawn_failed: RunResult | None = None  # the entrypoint could not be started
    failure: Exception | None = None  # a gateway bug while preparing: recorded as an error
    supervised: bool = False  # `supervise` took the child over (and kills it on cancellation)
    instance: Instance | None = None  # as configured at the claim: a reload does not change a running job


@dataclass
class Ended:
    """How one attempt ended, before it is recorded. `reason` (the hook payload's reason) is set
    when a plugin ran: its success is routed and a terminal decision fires hooks. `routing` is
    preset for core.switch jobs, whose verdict is itself an event to route."""

    record: AttemptRecord
    verdict: Verdict
    response: protocol.Response | None = None
    reason: str | None = None
    routing: Routing | None = None


@dataclass
class Refill:
    """The job a finishing job claimed in its finish's own transaction (`finish_then_claim`):
    `claimed` once that transaction committed (claiming found `job`, or nothing eligible)."""

    claimed: bool = False
    job: Job | None = None
    started: Started | None = None


class Dispatcher:
    def __init__(
        self,
        store: Store,
        registry: Registry,
        *,
        max_workers: int,
        hub: EventHub | None = None,
        kill_grace: float = 5.0,
        env_passthrough: list[str] | None = None,
        draw: Callable[[], float] = random.random,
        clock: Callable[[], datetime] = utcnow,
        routing: Settings | None = None,
    ):
        self.store = store
        self.routing = routing or default_settings(registry)
        self.registry = registry
        self.max_workers = max_workers
        self.hub = hub or EventHub()
        self.kill_grace = kill_grace
        self.env = plugin_env(env_passthrough or [])
        self.draw = draw
        self.clock = clock
        self.running: dict[str, asyncio.Task[None]] = {}
        self.per_instance: Counter[str] = Counter()
        self._wake = asyncio.Event()
        self._abort = asyncio.Event()
        self._claiming = True
        # job_id → why the end of its attempt is not recorded yet (retrying); shown in /healthz
        self.unrecorded: dict[str, str] = {}
        self._paused: StoreUnavailable | None = None  # claims paused on this storage fault
        self._next_probe = 0.0
        self._fatal: StoreDamaged | None = None  # the database file proved unusable: stop the gateway
        self._started: Started | None = None  # set by `_start` during the claim in progress
        # instance → why its jobs cannot run: removed by a config reload (ductile.reload)
        self.removed: dict[str, str] = {}
        self._filling = False  # a `_fill` is claiming (see there)
        self._refill = False

    def wake(self) -> None:
        self._wake.set()

    @property
    def busy(self) -> int:
        return len(self.running)

    async def run(self, stop: asyncio.Event) -> None:
        """Claim and run until `stop` is set; then return without claiming more (see drain)."""
        self._claiming = True  # a dispatcher run again after a drain claims again
        stopper = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                if self._fatal is not None:
                    raise self._fatal
                self._wake.clear()
                delay = POLL_INTERVAL
                if await self._writable():
                    await self._fill()
                    delay = await self._until_retry_due(delay)
                else:
                    delay = max(0.05, self._next_probe - asyncio.get_running_loop().time())
                waker = asyncio.ensure_future(self._wake.wait())
                await asyncio.wait({waker, stopper}, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
                waker.cancel()
        finally:
            stopper.cancel()
            self._claiming = False

    async def drain(self, grace: float) -> int:
        """Let running jobs finish for up to `grace` seconds; kill the rest and leave them
        `running` in the store for crash recovery. Returns how many were left."""
        self._claiming = False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while self.running and not self._abort.is_set():
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            aborter = asyncio.ensure_future(self._abort.wait())
            await asyncio.wait(
                [*self.running.values(), aborter], timeout=remaining, return_when=asyncio.FIRST_COMPLETED
            )
            aborter.cancel()
        left = [t for t in self.running.values() if not t.done()]
        for task in left:
            task.cancel()
        for task in left:
            with contextlib.suppress(BaseException):
                await task
        return len(left)

    def abort(self) -> None:
        """Stop waiting in `drain`: running jobs are killed now and left for recovery."""
        self._abort.set()

    async def _until_retry_due(self, delay: float) -> float:
        # With every worker busy a retry falling due could not start anyway, and the next
        # job to finish claims again; skip the query (it scans the queued jobs).
        if len(self.running) >= self.max_workers:
            return delay
        try:
            due = await off_loop(self.store, self.store.next_retry_due, self.clock())
        except StoreUnavailable:
            return delay
        if due is None:
            return delay
        return min(delay, max(0.0, (due - self.clock()).total_seconds()))

    async def _writable(self) -> bool:
        """False while the database cannot be written: claims pause (nothing could be recorded)
        and a small write is probed every PROBE_INTERVAL until one commits."""
        fault = self.store.write_fault
        if fault is None:
            if self._paused is not None:
                log.warning(
                    "database writes succeed again; claiming jobs again", extra={"database": str(self._paused.path)}
                )
                self._paused = None
            return True
        if self._paused is None:
            self._pause(fault)
        now = asyncio.get_running_loop().time()
        if now < self._next_probe:
            return False
        try:
            await off_loop(self.store, self.store.probe_write)
        except StoreDamaged as exc:
            self._fatal = exc
            return False
        self._next_probe = now + PROBE_INTERVAL
        return await self._writable() if self.store.write_fault is None else False

    def _pause(self, fault: StoreUnavailable) -> None:
        self._paused = fault
        self._next_probe = asyncio.get_running_loop().time() + PROBE_INTERVAL
        log.error(
            "database cannot be written; no jobs are claimed until a write succeeds (probing every %gs)",
            PROBE_INTERVAL,
            extra={"error": str(fault)},
        )

    async def _fill(self) -> None:
        """Claim until every worker is busy or nothing is eligible. One fill at a time: on
        PostgreSQL a claim is awaited on a store thread, and a job ending meanwhile asks for
        another round instead of claiming beside it (which could pass `max_workers`)."""
        if self._filling:
            self._refill = True
            return
        self._filling = True
        try:
            self._refill = True
            while self._refill:
                self._refill = False
                await self._fill_round()
        finally:
            self._filling = False

    async def _fill_round(self) -> None:
        while self._claiming and self._paused is None and len(self.running) < self.max_workers:
            excluded = self._excluded()
            self._started = None
            now = self.clock()
            try:
                job = await off_loop(
                    self.store,
                    self.store.claim,
                    now=now,
                    excluded_plugins=excluded,
                    start=functools.partial(self._start, now=now),
                )
            except BaseException as exc:
                if self._started is not None and self._started.child is not None:
                    discard(self._started.child)  # spawned, but the claim did not commit
                self._started = None
                if isinstance(exc, StoreDamaged):
                    self._fatal = exc
                    self.wake()
                    return
                if isinstance(exc, StoreUnavailable):
                    self._pause(exc)
                    return
                raise
            started, self._started = self._started, None
            if job is None:
                return
            self._launch(job, started)

    def _excluded(self, freeing: str | None = None) -> list[str]:
        """Instances at their parallelism limit (not counting a job of `freeing` that is ending)."""
        return [
            name
            for name, inst in self.registry.instances.items()
            if self.per_instance[name] - (name == freeing) >= inst.parallelism
        ]

    def _launch(self, job: Job, started: Started | None) -> None:
        """A claimed job: count it, announce it, and start the task that supervises and records it."""
        self.per_instance[job.plugin] += 1
        self._emit("job.started", job, parent_job_id=job.parent_job_id)
        if compat_events.is_scheduled_poll(job):
            self._emit("poll.started", job)
        task = asyncio.create_task(self._execute(job, started), name=f"job-{job.job_id}")
        if started is not None and started.child is not None:
            task.add_done_callback(functools.partial(_unsupervised, started))
        self.running[job.job_id] = task

    def _start(self, job: Job, now: datetime) -> int | None:
        """Inside the claim's transaction: build the request and spawn the plugin; the pid goes
        into the attempt row in the same commit. Never raises (that would roll the claim back
        and the job would be claimed again and again): a failure is kept for `_run_job`."""
        started = Started(spawned=now)
        self._started = started
        try:
            if job.plugin == SWITCH_PLUGIN:
                return None
            instance = self.registry.get(job.plugin)
            if instance is None or instance.command(job.command) is None:
                what = "plugin instance" if instance is None else f"command {job.command!r} of"
                started.error = f"{what} {job.plugin!r} is not configured in this gateway"
                if instance is None and job.plugin in self.removed:
                    started.error = self.removed[job.plugin]
                return None
            started.instance = instance
            started.timeout = timeout = instance.timeout(job.command)
            try:
                started.request = self._request(job, instance, now, timeout)
            except delivery.DeliveryError as exc:
                started.error = str(exc)
                return None
            begun = time.perf_counter()
            try:
                started.child = spawn(instance.plugin.entrypoint, cwd=instance.plugin.directory, env=self.env)
            except OSError as exc:
                started.spawn_failed = spawn_failure(instance.plugin.entrypoint, exc, begun)
                return None
            return started.child.pid
        except Exception as exc:
            started.failure = exc
            return None

    async def _execute(self, job: Job, started: Started | None) -> None:
        """Run one attempt and record how it ended. Whatever goes wrong inside the gateway, the
        attempt is ended in the store (as an error, under the status rule): a job is never left
        `running` by an exception here, only by a shutdown (crash recovery then picks it up)."""
        refill = Refill()
        try:
            try:
                ended = await self._run_job(job, started or Started(spawned=self.clock()))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception("job execution failed inside the gateway", extra={"job_id": job.job_id})
                error = _printable(f"gateway error while running attempt {job.attempt}: {type(exc).__name__}: {exc}")
                stamp = to_text(self.clock())
                record = AttemptRecord("error", job.started_at or stamp, stamp, 0.0, error=error)
                ended = Ended(record, Verdict(Outcome.ERROR, None, error))
            await self._record(job, ended, (started and started.instance) or self.registry.get(job.plugin), refill)
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug in recording itself: the job stays for crash recovery, visibly
            log.exception("could not record the end of a job", extra={"job_id": job.job_id})
            self.unrecorded[job.job_id] = f"job {job.job_id}: recording its attempt {job.attempt} failed (see log)"
        finally:
            self.running.pop(job.job_id, None)
            self.per_instance[job.plugin] -= 1
            if refill.job is not None:  # claimed with this job's finish: after its events, always
                self._launch(refill.job, refill.started)
            if self._claiming and not refill.claimed:
                await self._fill()

    async def _run_job(self, job: Job, started: Started) -> Ended:
        if started.failure is not None:
            raise started.failure
        if job.plugin == SWITCH_PLUGIN:
            return self._run_switch(job)
        if started.error is not None:
            return self._failed_directly(started.error)
        assert started.instance is not None
        timeout = started.timeout
        if started.child is not None:
            started.supervised = True
            run = await supervise(started.child, started.request, timeout=timeout, kill_grace=self.kill_grace)
        else:
            assert started.spawn_failed is not None
            run = started.spawn_failed
        verdict = judge(run, timeout)
        response = verdict.response
        stderr = run.stderr
        if run.stderr_truncated:
            stderr = f"[stderr truncated to the last {protocol.STDERR_LIMIT} bytes]\n" + stderr
        record = AttemptRecord(
            outcome=verdict.outcome.value,
            started_at=to_text(started.spawned),
            completed_at=to_text(self.clock()),
            duration_ms=round(run.duration_ms, 3),
            response=response.raw if response else None,
            error=verdict.error,
            logs=response.logs if response else [],
            stderr=stderr,
            exit_code=run.exit_code,
        )
        return Ended(record, verdict, response, reason=hook_reason(verdict.outcome, verdict.response, run))

    def _failed_directly(self, error: str) -> Ended:
        """Unknown targets, preflight, `with` and switch failures: failed at once — no retry, no
        routing, no hooks (pipelines.md §3.1)."""
        stamp = to_text(self.clock())
        record = AttemptRecord("fatal", stamp, stamp, 0.0, error=error)
        return Ended(record, Verdict(Outcome.FATAL, None, error))

    def _run_switch(self, job: Job) -> Ended:
        """§3.7: no process; evaluate, rewrite the event type, route it, succeed with the verdict."""
        started = to_text(self.clock())
        try:
            source = load_source(self.store, job)
            context = delivery.request_context(job.plugin, job.context, source)
            configs = {name: inst.spec.config for name, inst in self.registry.instances.items()}
            event, result = delivery.decide_switch(job.payload, self.routing.graph, source, context, configs)
        except delivery.DeliveryError as exc:
            return self._failed_directly(str(exc))
        record = AttemptRecord("success", started, to_text(self.clock()), 0.0, response=result)
        routing = Routing(self.routing, events=[event], result=None, synthesize=False)
        return Ended(record, Verdict(Outcome.SUCCESS, None, None), routing=routing)

    def _request(self, job: Job, instance: Instance, spawned: datetime, timeout: float) -> bytes:
        source = load_source(self.store, job)
        context = delivery.request_context(instance.name, job.context, source)
        event = None
        if job.command == "handle" and job.payload not in (None, "", {}, []):
            event = delivery.request_event(job.payload, context, self.routing.graph, source)
        return protocol.build_request(
            job_id=job.job_id,
            command=job.command,
            config=instance.spec.config,
            state=self.store.get_state(instance.name),
            payload=job.payload,
            context=context,
            instance=instance.name,
            workspace_dir=str(self.registry.workspace(instance.name)),
            deadline_at=to_text(add_seconds(spawned, timeout)),
            event=event,
        )

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
        self._emit(_STATUS_EVENT[done.status], done, duration_ms=record.duration_ms, attempt=job.attempt, **failure)
        for kind, extra in compat_events.finished_events(
            done,
            attempt=job.attempt,
            max_attempts=job.max_attempts,
            outcome=verdict.outcome,
            decision=decision,
            backoff_base=instance.spec.retry.backoff_base if instance else 30.0,
            duration_ms=record.duration_ms,
        ):
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
                    # finish + next claim in one transaction where store calls run inline (SQLite); on a
                    # store whose calls run on threads (PostgreSQL) fills stay serialized by `_fill`
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
        is killed here; the caller retries the finish alone."""
        self._started = None
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
                start=functools.partial(self._start, now=now),
            )
        except BaseException:
            if self._started is not None and self._started.child is not None:
                discard(self._started.child)
            self._started = None
            raise
        started, self._started = self._started, None
        refill.claimed, refill.job, refill.started = True, claimed, started
        return done

    def _emit(self, kind: str, job: Job, **extra: Any) -> None:
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

    async def cancel(self, job_id: str, reason: str) -> Job | None:
        """Cancel a queued or running job (→ dead); a running one has its process group killed."""
        job = await off_loop(self.store, self.store.cancel, job_id, reason=reason, now=self.clock())
        task = self.running.get(job_id)
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        if job is not None and job.status is Status.DEAD:
            self._emit("job.dead", job)
        return job


def _unsupervised(started: Started, task: asyncio.Task[None]) -> None:
    """A job task cancelled before it began (drain, cancel right after the claim) never reached
    `supervise`: its plugin was spawned in the claim all the same, so kill and reap it here."""
    if started.child is not None and not started.supervised:
        discard(started.child)


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
