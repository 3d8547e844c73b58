"""The composition root: config → plugins → store → dispatcher, scheduler, upkeep, API.

Owns start-up order (lock, migrate, recover), signals, and the graceful drain.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

from ductile import __version__, sdnotify
from ductile.breaker import wiring as breaker_wiring
from ductile.cluster import Cluster, NoFileLock
from ductile.cluster_events import ClusterHub
from ductile.compat_events import recovery_event
from ductile.config import ConfigError, LoadedConfig
from ductile.config_check import check_config
from ductile.dispatch import Dispatcher, recover
from ductile.events import EventHub
from ductile.executor import install_child_watcher
from ductile.jobs import EnqueueResult
from ductile.lifecycle import Status
from ductile.lock import DatabaseLock
from ductile.manifest import Discovery
from ductile.pipelines.compile import EMPTY_GRAPH, Graph
from ductile.pipelines.router import Settings
from ductile.registry import Registry, build_registry
from ductile.scheduler.cancel import graceful_canceller
from ductile.scheduler.loop import Scheduler
from ductile.store import Store, StoreError, open_store
from ductile.store.errors import EXIT_UNAVAILABLE
from ductile.store.offload import off_loop
from ductile.submission import submit
from ductile.timeutil import to_text, utcnow
from ductile.upkeep import pruner
from ductile.webhooks.config import Intake

log = logging.getLogger(__name__)


@dataclass
class Setup:
    loaded: LoadedConfig
    discovery: Discovery
    registry: Registry
    graph: Graph = EMPTY_GRAPH
    warnings: list[str] = field(default_factory=list)  # discovery's and the pipelines' lints
    webhooks: Intake | None = None  # the webhook listener's endpoints (secrets resolved); None: no listener


def prepare(config_arg: str | None = None) -> Setup:
    """Load and fully check the config against discovered plugins; raise ConfigError with every problem.

    The problems come from `check_config`, the one place all checks are collected.
    """
    report = check_config(config_arg)
    if report.problems or report.loaded is None:
        raise ConfigError(report.problems, partial=report.loaded)
    return Setup(
        loaded=report.loaded,
        discovery=report.discovery,
        registry=build_registry(report.loaded, report.discovery),
        graph=report.graph,
        warnings=report.warnings,
        webhooks=report.webhooks,
    )


def routing_settings(setup: Setup) -> Settings:
    """The routing half of the config (graph, budgets, retry limits, hook senders)."""
    service = setup.loaded.config.service
    plugins = setup.loaded.config.plugins
    return Settings(
        graph=setup.graph,
        max_attempts={name: spec.retry.max_attempts for name, spec in plugins.items()},
        max_chain_depth=service.max_chain_depth,
        dedupe_ttl=service.dedupe_ttl,
        hook_max_depth=service.hook_max_depth,
        notify=frozenset(name for name, spec in plugins.items() if spec.notify_on_complete),
    )


class Gateway:
    def __init__(self, setup: Setup, *, api: bool | None = None):
        self.setup = setup
        self.config = setup.loaded.config
        self.registry = setup.registry
        database = self.config.database
        # PostgreSQL: one event stream for the whole cluster (cluster_events.py)
        self.hub = ClusterHub() if database.postgres else EventHub()
        # SQLite: one gateway per file (lock file). PostgreSQL: any number of nodes (cluster.py).
        self.lock: Any = NoFileLock() if database.postgres else DatabaseLock(setup.loaded.db_path)
        self.cluster: Cluster | None = None
        self.store: Store | None = None
        self.dispatcher: Dispatcher | None = None
        self.scheduler: Scheduler | None = None
        self.api_enabled = self.config.api.enabled if api is None else api
        self.started_monotonic = time.monotonic()
        self.started_at = to_text(utcnow())
        self.stop_event: asyncio.Event | None = None
        self.api_server: Any = None
        self.webhook_server: Any = None
        self.webhook_writer: Any = None  # the listener's writer thread (webhooks/serving.py), while it runs
        self.version = __version__
        # Set when a component failed and the gateway stopped because of it: one line for the
        # operator, and the process exit status (`ductile system start` exits with it).
        self.failure: str | None = None
        self.exit_code = 0
        self.graph = setup.graph
        self.routing = routing_settings(setup)
        self.metrics: Any = None
        # (instance, schedule_id) → (Health, Evidence), kept by scheduler.health_watch.watch
        self.schedule_health: dict[tuple[str, str], Any] = {}
        self.schedule_health_at: float | None = None  # time.monotonic() of the watcher's last full round
        if self.api_enabled and self.config.api.metrics.enabled:
            from ductile.metrics import GatewayMetrics  # here, not at the top: the CLI imports this module

            self.metrics = GatewayMetrics(self)
            self.hub.taps.append(self.metrics.observe)

    @property
    def uptime(self) -> float:
        return time.monotonic() - self.started_monotonic

    def enqueue(
        self, instance: str, command: str, payload: Any = None, *, submitted_by: str, dedupe_key: str | None = None
    ) -> EnqueueResult:
        """Enqueue from inside the gateway (API): wakes the dispatcher and tells event listeners."""
        assert self.store is not None
        submission = self._submission(instance, command, payload, submitted_by, dedupe_key)
        return self._enqueued(submit(self.store, self.registry, **submission), submission)

    async def enqueue_off_loop(
        self, instance: str, command: str, payload: Any = None, *, submitted_by: str, dedupe_key: str | None = None
    ) -> EnqueueResult:
        """`enqueue` for the API: on PostgreSQL the insert waits on the store's threads, not the
        event loop (a locked `jobs` would stall every request); listeners are told back on the loop."""
        assert self.store is not None
        submission = self._submission(instance, command, payload, submitted_by, dedupe_key)
        result = await off_loop(self.store, submit, self.store, self.registry, **submission)
        return self._enqueued(result, submission)

    def _submission(
        self, instance: str, command: str, payload: Any, submitted_by: str, dedupe_key: str | None
    ) -> dict[str, Any]:
        return {
            "instance": instance,
            "command": command,
            "payload": payload,
            "submitted_by": submitted_by,
            "dedupe_key": dedupe_key,
            "dedupe_ttl": self.config.service.dedupe_ttl,
        }

    def _enqueued(self, result: EnqueueResult, submission: dict[str, Any]) -> EnqueueResult:
        """On the loop, after the insert committed: tell listeners and wake the dispatcher."""
        assert self.dispatcher is not None
        if result.created:
            self.hub.job_queued(result.job_id, submission["instance"], submission["command"], submission["submitted_by"])
            self.dispatcher.wake()
        return result

    def pipeline_enqueued(self, name: str, job_ids: list[str], entries: list[Any]) -> None:
        """After a committed `POST /pipeline` start: tell listeners and wake the dispatcher."""
        assert self.dispatcher is not None
        for job_id, entry in zip(job_ids, entries, strict=True):
            self.hub.job_queued(job_id, entry.plugin, entry.command, "api")
        self.hub.publish(
            "pipeline.enqueued",
            {
                "at": to_text(utcnow()),
                "job_id": job_ids[0],
                "job_ids": job_ids,
                "job_count": len(job_ids),
                "pipeline": name,
                "submitted_by": "api",
            },
        )
        log.info("pipeline queued", extra={"pipeline": name, "job_id": job_ids[0], "jobs": len(job_ids)})
        self.dispatcher.wake()

    def open(self) -> None:
        """Lock, open and migrate the database, and recover jobs a dead gateway left running."""
        self.lock.acquire()
        try:
            database = self.config.database
            if database.postgres:
                self.store = open_store(
                    self.setup.loaded.store_target, pool_size=database.pool_size, node_id=database.node_id
                )
            else:
                self.store = open_store(self.setup.loaded.db_path)
            # Refuse to start on a database that cannot be written (full disk, read-only): a
            # restart later (systemd Restart=on-failure) is the way back, not a gateway that
            # accepts nothing. Crash recovery below needs writes too.
            if not self.store.probe_write() and self.store.write_fault is not None:
                raise self.store.write_fault
            self.store.start_checkpointer()
            self.store.configure_breakers(
                **breaker_wiring.settings(self.config), listener=breaker_wiring.publisher(self.hub)
            )
            if self.config.database.postgres:
                self.cluster = Cluster(
                    self.store,  # type: ignore[arg-type]
                    self.registry,
                    heartbeat=self.config.database.heartbeat,
                    lease=self.config.database.node_lease,
                    version=self.version,
                    routing=self.routing,
                    hub=self.hub,
                )
                recovered = self.cluster.join()  # jobs of live nodes are theirs, not ours to recover
            else:
                recovered = recover(self.store, self.registry, now=utcnow(), routing=self.routing)
        except BaseException:
            if self.cluster is not None:
                self.cluster.stop_heartbeat()
                self.cluster = None
            if isinstance(self.hub, ClusterHub):
                self.hub.close(timeout=1.0)
            if self.store is not None:
                self.store.close()
                self.store = None
            self.lock.release()
            raise
        if recovered:
            log.warning("crash recovery re-queued or closed jobs", extra={"count": len(recovered)})
        for job in recovered if self.cluster is None else ():  # the cluster published its own
            if job.status is Status.DEAD:  # Ductile's signal for a job recovery had to give up on
                self.hub.publish("job.failed", recovery_event(job))
        service = self.config.service
        self.dispatcher = Dispatcher(
            self.store,
            self.registry,
            max_workers=service.max_workers,
            hub=self.hub,
            kill_grace=service.kill_grace,
            env_passthrough=service.plugin_env_passthrough,
            routing=self.routing,
        )
        self.scheduler = Scheduler(
            self.store,
            self.registry,
            hub=self.hub,
            on_enqueue=self.dispatcher.wake,
            cancel=graceful_canceller(self.store, self.dispatcher, service.kill_grace),
            gates=[self.store.breaker_gate],
        )

    def _ui_session_ttl(self) -> float | None:
        """The idle limit of dashboard sessions kept in the database (PostgreSQL with the
        dashboard on), for the pruner; None when sessions live in memory or there are none."""
        api = self.config.api
        if not (self.config.database.postgres and self.api_enabled and api.ui.enabled):
            return None
        return api.ui.session_ttl

    def close(self) -> None:
        if self.cluster is not None:
            self.cluster.leave()
            self.cluster = None
        if self.store is not None:
            self.store.close()
            self.store = None
        self.lock.release()

    async def run(self, *, ready: asyncio.Event | None = None) -> None:
        """Run until SIGINT/SIGTERM (or `stop_event`), then drain and close."""
        install_child_watcher()
        self.stop_event = stop = asyncio.Event()
        if self.store is None:
            self.open()
        assert self.dispatcher is not None and self.scheduler is not None and self.store is not None
        listeners = self._listen() if self.api_enabled else None  # before anything can run a job
        hook_sockets = self._listen_webhooks(listeners)  # likewise
        with self._signals(stop):
            if self.cluster is not None:
                # Other nodes' enqueues wake this dispatcher (LISTEN/NOTIFY); the scheduler runs
                # only while this node leads.
                loop = asyncio.get_running_loop()
                dispatcher = self.dispatcher
                self.store.listen(lambda: loop.call_soon_threadsafe(dispatcher.wake))  # type: ignore[attr-defined]
                schedule_task = asyncio.create_task(
                    self.cluster.run(stop, self.scheduler, self.dispatcher.wake), name="cluster"
                )
            else:
                self.scheduler.load()
                schedule_task = asyncio.create_task(self.scheduler.run(stop), name="scheduler")
            tasks = [
                asyncio.create_task(self.dispatcher.run(stop), name="dispatcher"),
                schedule_task,
                asyncio.create_task(
                    pruner.run(
                        self.store,
                        self.config.service.job_retention,
                        stop,
                        breaker_retention=self.config.service.breaker_transitions_retention,
                        ui_session_ttl=self._ui_session_ttl(),
                    ),
                    name="pruner",
                ),
            ]
            if self.api_enabled:
                assert listeners is not None
                tasks.append(asyncio.create_task(self._serve_api(listeners), name="api"))
            from ductile.scheduler import health_watch

            tasks.append(asyncio.create_task(health_watch.watch(self, stop), name="schedule health"))
            interval = sdnotify.watchdog_interval()
            if interval is not None:
                tasks.append(asyncio.create_task(sdnotify.watchdog(stop, interval), name="watchdog"))
            if hook_sockets is not None and self.setup.webhooks is not None:
                from ductile.webhooks import listener

                serving = listener.serve(self, self.setup.webhooks, hook_sockets)
                tasks.append(asyncio.create_task(serving, name="webhook listener"))
            log.info(
                "gateway started",
                extra={
                    "version": self.version,
                    "plugins": len(self.registry.instances),
                    "max_workers": self.config.service.max_workers,
                    "database": str(self.setup.loaded.db_path)
                    if self.cluster is None
                    else self.store.target,  # type: ignore[attr-defined]  # the url without its password
                    "node": self.cluster.node_id if self.cluster is not None else None,
                    "api": self.config.api.listen if self.api_enabled else None,
                    "webhooks": self.setup.webhooks.listen
                    if hook_sockets is not None and self.setup.webhooks
                    else None,
                },
            )
            self.hub.publish("gateway.started", {"version": self.version, "started_at": self.started_at})
            if ready is not None:
                ready.set()
            sdnotify.notify(f"READY=1\nSTATUS=running {len(self.registry.instances)} plugin(s)")
            stopper = asyncio.create_task(stop.wait())
            done, _ = await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not stopper and not task.cancelled() and task.exception() is not None:
                    self._failed(task.get_name(), task.exception())
            stop.set()
            sdnotify.notify("STOPPING=1\nSTATUS=draining running jobs")
            self.hub.publish("gateway.stopping", {"reason": "signal or stop request"})
            left = await self.dispatcher.drain(self.config.service.drain_grace)
            if left:
                log.warning("jobs still running at shutdown left for recovery", extra={"count": left})
            if self.api_server is not None:
                self.api_server.should_exit = True
            if self.webhook_server is not None:
                self.webhook_server.should_exit = True
            await asyncio.gather(*tasks, return_exceptions=True)
            log.info("gateway stopped")
        self.close()

    def _failed(self, component: str, exc: BaseException | None) -> None:
        """Remember the first failure: the gateway drains, then exits non-zero with it."""
        if self.failure is not None or exc is None:
            return
        self.failure = f"the {component} failed: {exc}" if str(exc) else f"the {component} failed: {exc!r}"
        self.exit_code = getattr(exc, "exit_code", EXIT_UNAVAILABLE)
        if isinstance(exc, StoreError):
            log.error("gateway component failed; stopping", extra={"component": component, "error": str(exc)})
        else:
            log.error("gateway component failed; stopping", exc_info=exc, extra={"component": component})

    @contextlib.contextmanager
    def _signals(self, stop: asyncio.Event) -> Generator[None, None, None]:
        loop = asyncio.get_running_loop()
        installed = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self._on_signal, sig, stop)
                installed.append(sig)
            except (NotImplementedError, RuntimeError):
                pass
        try:  # SIGHUP: re-read config and plugins (ductile.reload; `systemctl reload`)
            from ductile import reload

            loop.add_signal_handler(signal.SIGHUP, reload.hangup, self)
            installed.append(signal.SIGHUP)
        except (NotImplementedError, RuntimeError):
            pass
        try:
            yield
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)

    def _on_signal(self, sig: int, stop: asyncio.Event) -> None:
        if stop.is_set():
            log.warning("second signal: stopping without waiting for running jobs")
            if self.dispatcher is not None:
                self.dispatcher.abort()
            return
        log.info("signal received; draining", extra={"signal": signal.Signals(sig).name})
        stop.set()

    def _listen(self) -> list[socket.socket]:
        """Bind the API socket, or log one line naming the address and what to change, and raise."""
        from ductile.api import listen

        loaded = self.setup.loaded
        where = loaded.origins.get(("api", "listen")) or loaded.origins.get(("api",)) or loaded.path
        try:
            return listen.bind(self.config.api, str(where))
        except listen.ListenError as exc:
            log.error(str(exc), extra={"listen": self.config.api.listen, "setting": "api.listen"})
            self.close()
            raise

    def _listen_webhooks(self, api_sockets: list[socket.socket] | None) -> list[socket.socket] | None:
        """Bind the webhook listener (when endpoints are configured), like `_listen`: one line
        naming `webhooks.listen` and the gateway does not start."""
        intake = self.setup.webhooks
        if intake is None or not intake.endpoints:
            return None
        from ductile.api import listen
        from ductile.webhooks import listener

        loaded = self.setup.loaded
        where = loaded.origins.get(("webhooks", "listen")) or loaded.origins.get(("webhooks",)) or loaded.path
        try:
            return listener.bind(intake, str(where))
        except listen.ListenError as exc:
            log.error(str(exc), extra={"listen": intake.listen, "setting": "webhooks.listen"})
            for sock in api_sockets or []:
                sock.close()
            self.close()
            raise

    async def _serve_api(self, listeners: list[socket.socket]) -> None:
        from ductile.api.app import create_app
        from ductile.api.server import make_server

        app = create_app(self)
        self.api_server = make_server(app, self.config.api)
        try:
            async with contextlib.AsyncExitStack() as stack:
                mcp = getattr(app.state, "mcp", None)  # api.mcp.enabled: /mcp's session manager
                if mcp is not None:
                    await stack.enter_async_context(mcp.running())
                await self.api_server.serve(sockets=listeners)
        finally:
            for sock in listeners:
                sock.close()
        if not self.api_server.started and self.stop_event is not None and not self.stop_event.is_set():
            raise RuntimeError(f"API could not listen on {self.config.api.listen}")
