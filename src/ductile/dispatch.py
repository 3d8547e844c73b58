"""The dispatcher: claim queued jobs, run each as a plugin process, record what happened.

The loop lives here; starting and running one attempt is in `dispatch_attempt.py`, recording
how it ended (store, events, log line) in `dispatch_record.py`.

Concurrency: at most `max_workers` jobs at once and at most `parallelism` per instance. It wakes
at once when a job is enqueued in-process, when a retry falls due, and on a short poll to notice
jobs enqueued by other processes (the CLI) through the same database file.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
from collections import Counter
from collections.abc import Callable
from datetime import datetime

from ductile import compat_events, fdwatch
from ductile.dispatch_attempt import AttemptRunner, Ended, Started
from ductile.dispatch_record import Recorder, Refill, _printable
from ductile.events import EventHub
from ductile.executor import discard, plugin_env
from ductile.jobs import AttemptRecord, Job
from ductile.lifecycle import Outcome, Status
from ductile.pipelines.router import Settings
from ductile.pipelines.runtime import default_settings, publish_routing
from ductile.recovery import recover
from ductile.registry import Registry
from ductile.store import Store, StoreDamaged, StoreUnavailable
from ductile.store.offload import off_loop
from ductile.timeutil import to_text, utcnow
from ductile.verdict import Verdict, judge

__all__ = ["Dispatcher", "Verdict", "default_settings", "judge", "publish_routing", "recover"]
log = logging.getLogger(__name__)
POLL_INTERVAL = 0.25
PROBE_INTERVAL = 2.0  # seconds between write probes while the database cannot be written


class Dispatcher(AttemptRunner, Recorder):
    """The scheduling loop: claims, slots, drain and cancel. Starting an attempt is
    `AttemptRunner`'s (`dispatch_attempt.py`), recording it `Recorder`'s (`dispatch_record.py`)."""

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
        loop = asyncio.get_running_loop()
        fds = fdwatch.hold(loop)  # one epoll set for every job's fds while jobs are claimed
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
            fds.release(loop)

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
            box: list[Started] = []  # what `_start` did, if the claim called it
            now = self.clock()
            try:
                job = await off_loop(
                    self.store,
                    self.store.claim,
                    now=now,
                    excluded_plugins=excluded,
                    start=functools.partial(self._start, now=now, box=box),
                )
            except BaseException as exc:
                if box and box[0].child is not None:
                    discard(box[0].child)  # spawned, but the claim did not commit
                if isinstance(exc, StoreDamaged):
                    self._fatal = exc
                    self.wake()
                    return
                if isinstance(exc, StoreUnavailable):
                    self._pause(exc)
                    return
                raise
            started = box[0] if box else None
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
