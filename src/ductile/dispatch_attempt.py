"""Starting and running one attempt, for the dispatcher (`dispatch.py`): inside the claim's
transaction build the plugin's request and spawn it (`_start`), then supervise the process and
judge what it answered (`_run_job`) into an `Ended`, which `dispatch_record.py` records.

A mixin of `Dispatcher` rather than free functions: every step reads the dispatcher's registry,
store, routing settings, clock and environment, and the claim hands the `Started` back through
a list each claim passes in (the store calls `start` inside its transaction and only returns
the job): nothing is shared between claims, whichever thread runs them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from ductile import protocol
from ductile.executor import Child, RunResult, spawn, spawn_failure, supervise
from ductile.jobs import AttemptRecord, Job
from ductile.lifecycle import Outcome
from ductile.pipelines import delivery
from ductile.pipelines.compile import SWITCH_PLUGIN
from ductile.pipelines.runtime import hook_reason, load_source
from ductile.registry import Instance
from ductile.store.routing import Routing
from ductile.timeutil import add_seconds, to_text
from ductile.verdict import Verdict, judge

if TYPE_CHECKING:
    from collections.abc import Callable

    from ductile.pipelines.router import Settings
    from ductile.registry import Registry
    from ductile.store import Store


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


class AttemptRunner:
    """The dispatcher's start-and-run half (see the module docstring)."""

    store: Store
    registry: Registry
    routing: Settings
    env: dict[str, str]
    kill_grace: float
    clock: Callable[[], datetime]
    removed: dict[str, str]

    def _start(self, job: Job, now: datetime, box: list[Started]) -> int | None:
        """Inside the claim's transaction: build the request and spawn the plugin; the pid goes
        into the attempt row in the same commit. Never raises (that would roll the claim back
        and the job would be claimed again and again): a failure is kept for `_run_job`. What
        it did goes into `box`, the calling claim's own list."""
        started = Started(spawned=now)
        box.append(started)
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
