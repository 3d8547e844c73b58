"""One gateway among several on a PostgreSQL database: heartbeat, recovery of lost nodes,
scheduler leadership, and wake-ups from other nodes' enqueues.

The gateway owns one `Cluster` when `database.url` is PostgreSQL (SQLite is single-node by
design and keeps its lock file). Every `heartbeat` seconds the node refreshes its row, reaps
nodes whose heartbeat is older than `node_lease` (exactly one survivor gets each: the row's
DELETE decides) and recovers the running jobs left without a live node by the same status rule
as startup crash recovery. The scheduler runs only while this node holds the leader lock; a new
leader reloads schedule state from the database, where every fire is committed with its slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import threading
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ductile.cluster_events import ClusterHub
from ductile.compat_events import recovery_event
from ductile.events import EventHub
from ductile.jobs import Job
from ductile.lifecycle import Status
from ductile.pipelines.router import Settings
from ductile.recovery import recover_jobs
from ductile.registry import Registry
from ductile.scheduler.shared import remote_change
from ductile.store import StoreUnavailable
from ductile.store.offload import off_loop, on_loop
from ductile.timeutil import utcnow

if TYPE_CHECKING:
    from ductile.scheduler.loop import Scheduler
    from ductile.store.postgres import PostgresStore

log = logging.getLogger("ductile.cluster")


class NoFileLock:
    """PostgreSQL needs no lock file: several gateways sharing the database is the point."""

    def acquire(self) -> None:
        pass

    def release(self) -> None:
        pass


def cluster_limits(registry: Registry) -> dict[str, int]:
    """Instance → most jobs running at once across all nodes: an explicit `parallelism`, or 1
    for a `concurrency_safe: false` plugin. The default parallelism (the node's `max_workers`) is
    a per-node bound, so it is not made cluster-wide: each node applies it to itself."""
    return {
        name: inst.parallelism
        for name, inst in registry.instances.items()
        if inst.spec.parallelism is not None or not inst.plugin.manifest.concurrency_safe
    }


class Cluster:
    def __init__(
        self,
        store: PostgresStore,
        registry: Registry,
        *,
        heartbeat: float,
        lease: float,
        version: str,
        routing: Settings | None = None,
        hub: EventHub | None = None,
        clock: Callable[[], datetime] = utcnow,
        draw: Callable[[], float] = random.random,
    ):
        self.store = store
        self.registry = registry
        self.heartbeat = heartbeat
        self.lease = lease
        self.version = version
        self.routing = routing
        self.hub = hub or EventHub()
        self.clock = clock
        self.draw = draw
        self.leading = False
        self.host = socket.gethostname()
        self._beat_stop = threading.Event()
        self._beat: threading.Thread | None = None

    @property
    def node_id(self) -> str:
        return self.store.node_id

    def join(self) -> list[Job]:
        """Register this node, make instance limits cluster-wide, and recover what lapsed nodes
        left running (the PostgreSQL form of startup crash recovery: jobs of live nodes are theirs)."""
        self.store.claim_limits = cluster_limits(self.registry)
        if isinstance(self.hub, ClusterHub):
            self.hub.attach(self.store)  # before recovery, which publishes
        self.store.register_node(now=self.clock(), version=self.version)
        self._beat = threading.Thread(target=self._heartbeat, name="ductile-heartbeat", daemon=True)
        self._beat.start()
        return self.recover_lost()

    def _heartbeat(self) -> None:
        """Refresh the node row from a thread of its own, so a slow start-up or a busy event loop
        never lets the lease lapse while the process is alive (only a dead or cut-off node does)."""
        while not self._beat_stop.wait(self.heartbeat):
            try:
                if not self.store.heartbeat(now=self.clock()):
                    log.error(
                        "this node was taken for dead (heartbeat lapsed past the lease); registering again",
                        extra={"node": self.node_id},
                    )
                    self.store.register_node(now=self.clock(), version=self.version)
            except Exception as exc:  # a lost server: keep trying; the lease decides
                log.warning("cluster heartbeat failed; retrying", extra={"error": str(exc)})

    def recover_lost(self) -> list[Job]:
        now = self.clock()
        reaped = self.store.reap_nodes(now=now, lease=self.lease)
        for node in reaped:
            log.warning(
                "node stopped heartbeating; recovering its running jobs",
                extra={"node": node["node_id"], "host": node["host"], "lease": self.lease},
            )
        orphans = self.store.orphaned_running()
        if not orphans:
            return []
        local = {n["node_id"] for n in reaped if n["host"] == self.host}
        jobs = [(o.job, o.pid if o.node_id in local else None) for o in orphans]
        recovered = recover_jobs(
            self.store,
            self.registry,
            jobs,
            now=now,
            draw=self.draw,
            routing=self.routing,
            why="node stopped heartbeating while attempt {attempt} was running (recovered by node "
            + self.node_id
            + ")",
        )
        for job in recovered:
            if job.status is Status.DEAD:
                on_loop(self.hub.publish, "job.failed", recovery_event(job))
        if recovered:
            log.warning("recovered jobs of lost nodes", extra={"count": len(recovered), "node": self.node_id})
        return recovered

    async def run(self, stop: asyncio.Event, scheduler: Scheduler, wake: Callable[[], None]) -> None:
        """Recover lost nodes, and run `scheduler` only while leading, until `stop` (the heartbeat
        itself runs on its own thread from `join`)."""
        sched_stop = asyncio.Event()
        sched_task: asyncio.Task[Any] | None = None
        leader = self.store.leader_lock()
        resync = asyncio.Event()  # another node paused or resumed a schedule
        if isinstance(self.hub, ClusterHub):
            self.hub.start(asyncio.get_running_loop())
            self.hub.remote.append(lambda event: resync.set() if remote_change(event) else None)
        try:
            while not stop.is_set():
                try:
                    if await off_loop(self.store, self.recover_lost):  # PostgreSQL waits off the loop
                        wake()
                except StoreUnavailable as exc:
                    log.warning("could not look for lost nodes; retrying", extra={"error": str(exc)})
                lead = await asyncio.to_thread(leader.try_acquire)
                if lead and sched_task is None:
                    log.info("this node leads: it fires the schedules", extra={"node": self.node_id})
                    self.leading = True
                    scheduler.load()
                    sched_stop = asyncio.Event()
                    sched_task = asyncio.create_task(scheduler.run(sched_stop), name="scheduler")
                elif not lead and sched_task is not None:
                    log.warning("scheduler leadership lost; stopping the scheduler", extra={"node": self.node_id})
                    self.leading = False
                    sched_stop.set()
                    await sched_task
                    sched_task = None
                if sched_task is not None and sched_task.done():
                    sched_task.result()  # a scheduler failure stops the gateway, as on SQLite
                if sched_task is not None:
                    # pauses and resumes made on other nodes (at the latest one heartbeat later)
                    resync.clear()
                    with contextlib.suppress(StoreUnavailable):
                        scheduler.sync(await asyncio.to_thread(self.store.schedule_states))
                waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(resync.wait())]
                await asyncio.wait(waiters, timeout=self.heartbeat, return_when=asyncio.FIRST_COMPLETED)
                for waiter in waiters:
                    waiter.cancel()
        finally:
            if sched_task is not None:
                sched_stop.set()
                with contextlib.suppress(Exception):
                    await sched_task
            self.leading = False
            leader.release()

    def stop_heartbeat(self) -> None:
        self._beat_stop.set()
        if self._beat is not None:
            self._beat.join(timeout=10.0)

    def leave(self) -> None:
        """A clean stop: drop the node row, so jobs the drain left running are recovered at once
        by another node (or the next start) instead of after the lease."""
        self.stop_heartbeat()
        if isinstance(self.hub, ClusterHub):
            self.hub.close()  # the last events (gateway.stopping) reach the table first
        with contextlib.suppress(StoreUnavailable):
            self.store.leave_node()
