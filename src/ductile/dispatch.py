"""The dispatcher: claim queued jobs, run each as a plugin process, record what happened.

Concurrency: at most `max_workers` jobs at once and at most `parallelism` per instance. It wakes
at once when a job is enqueued in-process, when a retry falls due, and on a short poll to notice
jobs enqueued by other processes (the CLI) through the same database file.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ductile import compat_events, protocol
from ductile.events import EventHub
from ductile.executor import RunResult, kill_orphan, plugin_env, run_plugin
from ductile.jobs import AttemptRecord, Job, StateChange
from ductile.lifecycle import Decision, Outcome, Status, decide
from ductile.registry import Instance, Registry
from ductile.store import StateTooLarge, Store
from ductile.timeutil import add_seconds, to_text, utcnow

log = logging.getLogger(__name__)
POLL_INTERVAL = 0.25
_STATUS_EVENT = {
    Status.SUCCEEDED: "job.succeeded",
    Status.FAILED: "job.failed",
    Status.TIMED_OUT: "job.timed_out",
    Status.DEAD: "job.dead",
    Status.QUEUED: "job.retrying",
}


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    response: protocol.Response | None
    error: str | None


def judge(run: RunResult, timeout: float) -> Verdict:
    """Apply the protocol's outcome table to one finished process. Pure."""
    if run.spawn_error:
        return Verdict(Outcome.ERROR, None, run.spawn_error)
    if run.stdout_overflow:
        return Verdict(
            Outcome.ERROR,
            None,
            f"plugin stdout exceeded the {protocol.STDOUT_LIMIT // (1024 * 1024)} MiB limit; "
            f"first bytes: {protocol.quote(run.stdout)}",
        )
    try:
        response: protocol.Response | None = protocol.parse_response(run.stdout)
        violation = None
    except protocol.ProtocolViolation as exc:
        response, violation = None, str(exc)
    if run.exit_code == protocol.EXIT_CONFIG:
        detail = (response.error if response and response.error else None) or _tail(run.stderr) or "no message"
        return Verdict(Outcome.FATAL, response, f"plugin exited 78 (EX_CONFIG, never retried): {detail}")
    if run.timed_out and response is None:
        return Verdict(
            Outcome.TIMEOUT, None, f"plugin still running after its {timeout:g}s timeout; process group killed"
        )
    if response is None:
        suffix = f" (exit code {run.exit_code})" if run.exit_code not in (0, None) else ""
        tail = _tail(run.stderr)
        return Verdict(Outcome.ERROR, None, f"{violation}{suffix}" + (f"; stderr: {tail}" if tail else ""))
    if response.status == "ok":
        return Verdict(Outcome.SUCCESS, response, None)
    return Verdict(Outcome.ERROR if response.retry else Outcome.FATAL, response, response.error)


def _tail(text: str, size: int = 300) -> str:
    text = text.strip()
    return ("…" + text[-size:]) if len(text) > size else text


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
    ):
        self.store = store
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
                self._wake.clear()
                self._fill()
                delay = POLL_INTERVAL
                # With every worker busy a retry falling due could not start anyway, and the next
                # job to finish claims again; skip the query (it scans the queued jobs).
                due = self.store.next_retry_due(self.clock()) if len(self.running) < self.max_workers else None
                if due is not None:
                    delay = min(delay, max(0.0, (due - self.clock()).total_seconds()))
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

    def _fill(self) -> None:
        while self._claiming and len(self.running) < self.max_workers:
            excluded = [
                name for name, inst in self.registry.instances.items() if self.per_instance[name] >= inst.parallelism
            ]
            job = self.store.claim(now=self.clock(), excluded_plugins=excluded)
            if job is None:
                return
            self.per_instance[job.plugin] += 1
            self._emit("job.started", job, parent_job_id=job.parent_job_id)
            if compat_events.is_scheduled_poll(job):
                self._emit("poll.started", job)
            task = asyncio.create_task(self._execute(job), name=f"job-{job.job_id}")
            self.running[job.job_id] = task

    async def _execute(self, job: Job) -> None:
        finished = False
        try:
            await self._run_job(job)
            finished = True
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("job execution failed inside the gateway", extra={"job_id": job.job_id})
        finally:
            self.running.pop(job.job_id, None)
            self.per_instance[job.plugin] -= 1
            if finished and self._claiming:
                self._fill()

    async def _run_job(self, job: Job) -> None:
        instance = self.registry.get(job.plugin)
        spawned = self.clock()
        if instance is None or instance.command(job.command) is None:
            what = "plugin instance" if instance is None else f"command {job.command!r} of"
            error = f"{what} {job.plugin!r} is not configured in this gateway"
            record = AttemptRecord("fatal", to_text(spawned), to_text(spawned), 0.0, error=error)
            self._record(job, record, Verdict(Outcome.FATAL, None, error), instance, None)
            return
        timeout = instance.timeout(job.command)
        request = self._request(job, instance, spawned, timeout)
        run = await run_plugin(
            instance.plugin.entrypoint,
            request,
            cwd=instance.plugin.directory,
            env=self.env,
            timeout=timeout,
            kill_grace=self.kill_grace,
            on_spawn=lambda pid: self._spawned(job, pid),
        )
        verdict = judge(run, timeout)
        response = verdict.response
        stderr = run.stderr
        if run.stderr_truncated:
            stderr = f"[stderr truncated to the last {protocol.STDERR_LIMIT} bytes]\n" + stderr
        record = AttemptRecord(
            outcome=verdict.outcome.value,
            started_at=to_text(spawned),
            completed_at=to_text(self.clock()),
            duration_ms=round(run.duration_ms, 3),
            response=response.raw if response else None,
            error=verdict.error,
            logs=response.logs if response else [],
            stderr=stderr,
            exit_code=run.exit_code,
        )
        self._record(job, record, verdict, instance, response)

    def _spawned(self, job: Job, pid: int) -> None:
        self.store.record_pid(job.job_id, job.attempt, pid)

    def _request(self, job: Job, instance: Instance, spawned: datetime, timeout: float) -> bytes:
        context: dict[str, Any] = {"ductile_plugin": instance.name}
        if job.context:
            context.update(job.context)
        event = job.payload if job.command == "handle" and isinstance(job.payload, dict) else None
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

    def _record(
        self,
        job: Job,
        record: AttemptRecord,
        verdict: Verdict,
        instance: Instance | None,
        response: protocol.Response | None,
    ) -> None:
        decision = self._decide(job, verdict, instance)
        change = None
        events = None
        if decision.status is Status.SUCCEEDED and response is not None:
            change = _state_change(instance, job.command, response)
            events = response.events
        try:
            done = self.store.finish(job, record, decision, now=self.clock(), state_change=change, events=events)
        except StateTooLarge as exc:
            verdict = Verdict(Outcome.FATAL, response, str(exc))
            decision = self._decide(job, verdict, instance)
            record = dataclasses.replace(record, outcome="fatal", error=str(exc))
            done = self.store.finish(job, record, decision, now=self.clock())
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
        self.wake()

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
        if kind == "job.started":
            log.info("job running", extra={k: data[k] for k in ("job_id", "plugin", "command", "attempt", "status")})
        self.hub.publish(kind, data)

    async def cancel(self, job_id: str, reason: str) -> Job | None:
        """Cancel a queued or running job (→ dead); a running one has its process group killed."""
        job = self.store.cancel(job_id, reason=reason, now=self.clock())
        task = self.running.get(job_id)
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        if job is not None and job.status is Status.DEAD:
            self._emit("job.dead", job)
        return job


def _state_change(instance: Instance | None, command: str, response: protocol.Response) -> StateChange | None:
    updates = response.state_updates
    if instance is None or updates is None:
        return None
    for rule in instance.plugin.manifest.fact_outputs:
        if rule.when.get("command") in (None, command) and rule.from_ == "state_updates":
            return StateChange(data=updates, replace=True, fact_type=rule.fact_type)
    return StateChange(data=updates)


def recover(store: Store, registry: Registry, *, now: datetime, draw: Callable[[], float] = random.random) -> list[Job]:
    """Jobs left `running` by a gateway that died: re-queue as the next attempt, or dead when none left."""
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
        recovered.append(store.finish(job, record, decision, now=now))
        log.warning(
            "recovered job",
            extra={"job_id": job.job_id, "plugin": job.plugin, "attempt": job.attempt, "status": decision.status.value},
        )
    return recovered
