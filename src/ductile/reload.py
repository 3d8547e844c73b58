"""Reload config and plugins into a running gateway (`POST /system/reload`, SIGHUP).

Order: the full `config check` (the same one `system start` and `ductile config check` run) on the
files as they are now; any problem refuses the reload and changes nothing. Then the diff against
what runs (`reload_diff`), refused outright if it would change which database is used. Then the
swap, in one stretch of the event loop with no `await` in it, so no request, claim or scheduler
fire sees half of it. Jobs already running keep the plugin, config and timeout they started with
and finish normally; queued jobs of instances that are gone are ended (`dead`) with a reason
naming the reload. Reloads are serialized by a lock: a second one waits for the first.

Settings bound at start (listeners, HTTP limits, database pool, …) keep their running value and
are reported under `needs_restart` (docs/OPERATIONS.md#reload).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import TYPE_CHECKING, Any

from ductile.config import Config
from ductile.config_check import check_config
from ductile.jobs import JobQuery
from ductile.lifecycle import Status
from ductile.registry import build_registry
from ductile.reload_diff import ReloadDiff, diff, refusal, snapshot, summary
from ductile.timeutil import to_text, utcnow

if TYPE_CHECKING:
    from ductile.gateway import Gateway, Setup

log = logging.getLogger("ductile.reload")
BATCH = 200  # queued jobs of a removed instance ended per loop turn


class ReloadRefused(Exception):
    """The new config cannot be applied; `problems` says why. Nothing was changed."""

    def __init__(self, problems: list[str], status: int = 409):
        super().__init__("; ".join(problems))
        self.problems = problems
        self.status = status

    @property
    def message(self) -> str:
        return f"reload refused, nothing was changed: {len(self.problems)} problem(s): " + "; ".join(self.problems)


def fingerprints(setup: Setup) -> Any:
    """The running or new setup as `reload_diff` inputs."""
    plugins = {
        name: {
            "manifest": p.manifest.model_dump(mode="json", by_alias=True),
            "directory": str(p.directory),
            "entrypoint": str(p.entrypoint),
        }
        for name, p in setup.discovery.plugins.items()
    }
    pipelines = [item for _, raw in setup.loaded.pipeline_sources if isinstance(raw, list) for item in raw]
    return snapshot(setup.loaded.config.model_dump(mode="json"), plugins, pipelines)


def keep_running(new: Config, running: Config, paths: tuple[str, ...]) -> Config:
    """`new` with each of `paths` (attribute paths such as `api.listen`) set back to its running value."""
    for path in paths:
        parts = path.split(".")
        value: Any = running
        for part in parts:
            value = getattr(value, part)
        new = _put(new, parts, value)
    return new


def _put(model: Any, parts: list[str], value: Any) -> Any:
    head, rest = parts[0], parts[1:]
    inner = _put(getattr(model, head), rest, value) if rest else value
    return model.model_copy(update={head: inner})


class Reloader:
    def __init__(self, gateway: Gateway):
        self.gateway = gateway
        self.lock = asyncio.Lock()
        self.count = 0

    async def reload(self, *, by: str, dry_run: bool = False) -> dict[str, Any]:
        """Check, diff and (unless `dry_run`) apply; the answer body. Raises ReloadRefused."""
        async with self.lock:
            gw = self.gateway
            if gw.stop_event is not None and gw.stop_event.is_set():
                raise ReloadRefused(["the gateway is stopping"], status=503)
            new, result = await asyncio.to_thread(self._prepare)
            at = to_text(utcnow())
            body: dict[str, Any] = {
                "reloaded": False,
                "dry_run": dry_run,
                "at": at,
                "by": by,
                "config": str(new.loaded.path),
                "diff": result.as_dict(),
                "warnings": new.warnings,
                "failed_jobs": {"count": 0, "job_ids": []},
            }
            if dry_run:
                return body
            removed = {
                name: _gone_reason(name, new, at, by)
                for name in gw.registry.instances
                if name not in new.registry.instances
            }
            self._swap(new, removed)
            self.count += 1
            body["reloaded"] = True
            failed = await self._end_queued(removed)
            body["failed_jobs"] = {"count": len(failed), "job_ids": failed[:100]}
            extra = {"by": by, "changes": summary(result), "failed_jobs": len(failed), **_flat(result)}
            log.info("config reloaded", extra=extra)
            gw.hub.publish("gateway.reloaded", {"at": at, "by": by, **result.as_dict(), "failed_jobs": len(failed)})
            return body

    def _prepare(self) -> tuple[Setup, ReloadDiff]:
        """In a thread (discovery reads files): the checked new setup and its diff."""
        from ductile.gateway import Setup

        gw = self.gateway
        report = check_config(gw.setup.loaded.path)
        if report.problems or report.loaded is None:
            raise ReloadRefused(report.problems or [f"{gw.setup.loaded.path}: config file not found"])
        new = Setup(
            loaded=report.loaded,
            discovery=report.discovery,
            registry=build_registry(report.loaded, report.discovery),
            graph=report.graph,
            warnings=report.warnings,
            webhooks=report.webhooks,
        )
        result = diff(fingerprints(gw.setup), fingerprints(new))
        if result.refused:
            raise ReloadRefused(refusal(result.refused))
        if result.needs_restart:
            config = keep_running(new.loaded.config, gw.config, result.needs_restart)
            new.loaded = dataclasses.replace(new.loaded, config=config)
            new.registry = build_registry(new.loaded, new.discovery)
            running = gw.setup.webhooks
            if "webhooks.endpoints" in result.needs_restart:
                new.webhooks = running
            elif new.webhooks is not None and running is not None:
                new.webhooks = dataclasses.replace(
                    new.webhooks, listen=running.listen, host=running.host, port=running.port
                )
        return new, result

    def _swap(self, new: Setup, removed: dict[str, str]) -> None:
        """Everything the running gateway reads, replaced with no `await` in between."""
        from ductile.breaker import wiring as breaker_wiring
        from ductile.executor import plugin_env
        from ductile.gateway import routing_settings
        from ductile.scheduler.cancel import graceful_canceller

        gw = self.gateway
        config = new.loaded.config
        service = config.service
        routing = routing_settings(new)
        gw.setup, gw.config, gw.registry, gw.graph, gw.routing = new, config, new.registry, new.graph, routing
        dispatcher = gw.dispatcher
        if dispatcher is not None:
            dispatcher.registry, dispatcher.routing = new.registry, routing
            dispatcher.max_workers, dispatcher.kill_grace = service.max_workers, service.kill_grace
            dispatcher.env = plugin_env(service.plugin_env_passthrough)
            for name in new.registry.instances:
                dispatcher.removed.pop(name, None)
            dispatcher.removed.update(removed)
        store = gw.store
        if store is not None:
            store.configure_breakers(**breaker_wiring.settings(config), listener=breaker_wiring.publisher(gw.hub))
        if gw.cluster is not None:
            from ductile.cluster import cluster_limits

            gw.cluster.registry, gw.cluster.routing = new.registry, routing
            gw.store.claim_limits = cluster_limits(new.registry)  # type: ignore[union-attr]
        if gw.scheduler is not None:
            if dispatcher is not None and store is not None:
                gw.scheduler.cancel = graceful_canceller(store, dispatcher, service.kill_grace)
            self._replan(new)
        app = getattr(getattr(gw.api_server, "config", None), "app", None)
        if app is not None:
            from ductile.api.auth import TokenBook

            app.state.tokens = TokenBook(config.api.auth.tokens)
        hooks = getattr(getattr(gw.webhook_server, "config", None), "app", None)
        if hooks is not None:
            hooks.endpoints = new.webhooks.endpoints if new.webhooks is not None else {}
        logging.getLogger().setLevel({"warn": "WARNING"}.get(service.log_level, service.log_level.upper()))
        if dispatcher is not None:
            dispatcher.wake()  # more workers, or a parallelism raised: claim now

    def _replan(self, new: Setup) -> None:
        from ductile.scheduler.reconcile import replan
        from ductile.store import StoreError

        gw = self.gateway
        scheduler = gw.scheduler
        assert scheduler is not None and gw.store is not None
        scheduler.registry = new.registry
        if gw.cluster is not None and not gw.cluster.leading:
            return  # a node that does not lead plans at `load` when it takes the lead
        now = scheduler.clock()
        try:
            persisted = gw.store.schedule_states()
        except StoreError:
            persisted = {}
        plan = replan(scheduler.entries, new.registry, persisted, now=now, draw=scheduler.draw)
        scheduler.entries = plan.entries
        for entry in plan.dropped:
            gw.schedule_health.pop((entry.instance, entry.spec.id), None)
        try:
            for entry in plan.planned:
                gw.store.put_schedule_state(entry.state(now))
        except StoreError as exc:  # the plan is in memory; the next fire persists it
            log.warning("reloaded schedules not persisted yet", extra={"error": str(exc)})
        scheduler.wake()

    async def _end_queued(self, removed: dict[str, str]) -> list[str]:
        """End the queued jobs of removed instances (→ dead, with the reason). Listing and ending
        a batch happen with no `await` between, so the dispatcher cannot claim one in the middle."""
        gw = self.gateway
        store, dispatcher = gw.store, gw.dispatcher
        ended: list[str] = []
        if store is None:
            return ended
        for name, reason in removed.items():
            while True:
                page = store.list_jobs(JobQuery(plugin=name, statuses=(Status.QUEUED,), limit=BATCH))
                if not page.jobs:
                    break
                for job in page.jobs:
                    done = store.cancel(job.job_id, reason=reason, now=utcnow())
                    if done is not None and done.status is Status.DEAD:
                        ended.append(job.job_id)
                        if dispatcher is not None:
                            dispatcher._emit("job.dead", done)
                if len(page.jobs) < BATCH:
                    break
                await asyncio.sleep(0)
        if ended:
            log.warning(
                "queued jobs of removed plugin instances ended",
                extra={"count": len(ended), "plugins": sorted(removed)},
            )
        return ended


def _gone_reason(name: str, new: Setup, at: str, by: str) -> str:
    spec = new.loaded.config.plugins.get(name)
    what = "disabled (enabled: false)" if spec is not None and not spec.enabled else "removed from the config"
    return f"plugin instance {name!r} was {what} by a config reload at {at} (by {by}); the job did not run"


def _flat(result: ReloadDiff) -> dict[str, Any]:
    """Log fields: `instances_added: [...]` and so on, only the non-empty ones."""
    out: dict[str, Any] = {}
    for kind, change in result.sections.items():
        for what in ("added", "changed", "removed"):
            names = getattr(change, what)
            if names:
                out[f"{kind}_{what}"] = list(names)
    if result.needs_restart:
        out["needs_restart"] = list(result.needs_restart)
    return out


def reloader(gw: Gateway) -> Reloader:
    """The gateway's one reloader (its lock serializes every reload)."""
    found = getattr(gw, "reloader", None)
    if found is None:
        found = gw.reloader = Reloader(gw)  # type: ignore[attr-defined]
    return found


def hangup(gw: Gateway) -> None:
    """SIGHUP: reload in the background; problems are logged, the gateway keeps running as it was."""

    async def run() -> None:
        try:
            await reloader(gw).reload(by="SIGHUP")
        except ReloadRefused as exc:
            for problem in exc.problems:
                log.error(problem)
            log.error("SIGHUP reload refused; running config unchanged", extra={"problems": len(exc.problems)})
        except Exception:
            log.exception("SIGHUP reload failed")

    log.info("SIGHUP received: reloading config and plugins")
    task = asyncio.ensure_future(run())
    _pending.add(task)
    task.add_done_callback(_pending.discard)


_pending: set[asyncio.Task[None]] = set()
