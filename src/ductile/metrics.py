"""Prometheus metrics for one gateway, on its own `CollectorRegistry`.

Two kinds, chosen by cost: things that *happen* (jobs queued and finished, attempts, durations,
schedule fires and skips, HTTP requests) are counters fed by a tap on the event hub, kept as plain
numbers in dicts and turned into metric families only at scrape, so the dispatcher pays a dict
lookup and an addition per event and nothing else (no prometheus_client label lookup or lock); things that *are*
(queue depth by status, busy workers, SSE clients, each schedule's next fire and lateness) are
read when Prometheus scrapes, so an idle gateway does no work for them at all. Labels are only
config-bounded values (instance, command, schedule id, route template): never a job id or a path.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from itertools import accumulate
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from ductile.events import Event
from ductile.store import StoreError
from ductile.timeutil import from_text, utcnow

# A scrape's store reads made beforehand in one offloaded call (PostgreSQL); unset on SQLite,
# where the collectors read the store themselves as before.
PREFETCHED: ContextVar[dict[str, Any] | None] = ContextVar("ductile_metrics_reads", default=None)

if TYPE_CHECKING:
    from ductile.gateway import Gateway

# A job's end, as the dispatcher publishes it → the attempt outcome label.
ATTEMPT_EVENTS = {
    "job.succeeded": "succeeded",
    "job.failed": "failed",
    "job.timed_out": "timed_out",
    "job.dead": "dead",
    "job.retrying": "retrying",
}
JOB_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60, 300, 3600)
HTTP_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 10)


class _Counts:
    """A counter family kept as plain floats by label values; exported at scrape.

    Why not prometheus_client's Counter: its `labels()` validates and stringifies, and every
    `inc()` takes a lock, which made the tap several times dearer than the increment itself.
    The hub and the HTTP middleware run on the event loop only (EventHub feeds asyncio queues),
    so one thread updates these dicts and the scrape (also on the loop) reads them."""

    def __init__(self, name: str, doc: str, labels: list[str]):
        self.name, self.doc, self.labels = name, doc, labels
        self.values: dict[tuple[str, ...], float] = {}

    def inc(self, key: tuple[str, ...]) -> None:
        self.values[key] = self.values.get(key, 0.0) + 1.0

    def family(self) -> Metric:
        family = CounterMetricFamily(self.name, self.doc, labels=self.labels)
        for key, value in list(self.values.items()):
            family.add_metric([str(v) for v in key], value)
        return family


class _Histogram:
    """A histogram family as per-bucket counts and a sum by label values; exported at scrape."""

    def __init__(self, name: str, doc: str, labels: list[str], bounds: tuple[float, ...]):
        self.name, self.doc, self.labels, self.bounds = name, doc, labels, bounds
        self.les = [floatToGoString(b) for b in (*bounds, float("inf"))]
        self.values: dict[tuple[str, ...], list[float]] = {}  # key → [count per bucket..., +Inf, sum]

    def observe(self, key: tuple[str, ...], value: float) -> None:
        row = self.values.get(key)
        if row is None:
            row = self.values[key] = [0.0] * (len(self.bounds) + 2)
        row[bisect_left(self.bounds, value)] += 1.0  # the first bucket with value <= le
        row[-1] += value

    def family(self) -> Metric:
        family = HistogramMetricFamily(self.name, self.doc, labels=self.labels)
        for key, row in list(self.values.items()):
            cumulative = list(accumulate(row[:-1]))
            family.add_metric([str(v) for v in key], list(zip(self.les, cumulative, strict=True)), row[-1])
        return family


class GatewayMetrics:
    """Counters and histograms fed by hub events and HTTP middleware; gauges read at scrape."""

    def __init__(self, gateway: Gateway):
        # `_created` series double the exposition of every counter for a value nobody graphs;
        # a gateway with 300 plugin commands would scrape twice the bytes for it.
        disable_created_metrics()
        self.gateway = gateway
        self.registry = CollectorRegistry(auto_describe=False)
        self.enqueued = _Counts("ductile_jobs_enqueued", "Jobs created", ["plugin", "command", "submitted_by"])
        self.attempts = _Counts("ductile_job_attempts", "Attempts ended, by outcome", ["plugin", "command", "outcome"])
        self.finished = _Counts(
            "ductile_jobs_finished", "Jobs that reached a terminal status", ["plugin", "command", "status"]
        )
        self.retries = _Counts("ductile_job_retries", "Attempts that ended in a retry", ["plugin", "command"])
        self.duration = _Histogram(
            "ductile_job_duration_seconds", "Attempt wall time, spawn to exit", ["plugin", "command"], JOB_BUCKETS
        )
        self.fires = _Counts("ductile_schedule_fires", "Schedule slots enqueued", ["plugin", "schedule_id"])
        self.skips = _Counts("ductile_schedule_skips", "Schedule slots skipped", ["plugin", "schedule_id", "reason"])
        self.breaker_changes = _Counts(
            "ductile_breaker_transitions", "Circuit breaker state changes", ["plugin", "command", "state"]
        )
        self.http_requests = _Counts("ductile_http_requests", "API requests answered", ["method", "route", "status"])
        self.http_duration = _Histogram(
            "ductile_http_request_duration_seconds", "API request handling time", ["method", "route"], HTTP_BUCKETS
        )
        self.registry.register(_EventCollector(self))
        self.registry.register(_StateCollector(gateway))
        self._handlers: dict[str, Callable[[str, dict[str, Any]], None]] = {
            "job.queued": self._queued,
            "scheduler.fired": self._fired,
            "scheduler.skipped": self._skipped,
            "scheduler.circuit_state_changed": self._breaker,
            **dict.fromkeys(ATTEMPT_EVENTS, self._ended),
        }

    def families(self) -> Iterator[Metric]:
        for counts in (self.enqueued, self.attempts, self.finished, self.retries, self.duration, self.fires):
            yield counts.family()
        for counts in (self.skips, self.breaker_changes, self.http_requests, self.http_duration):
            yield counts.family()

    def observe(self, event: Event) -> None:
        """The hub tap: runs inside `publish`, so it must stay a lookup and an increment."""
        handler = self._handlers.get(event.type)
        if handler is not None:
            handler(event.type, event.data)

    def _queued(self, kind: str, data: dict[str, Any]) -> None:
        self.enqueued.inc((data.get("plugin", ""), data.get("command", ""), data.get("submitted_by", "")))

    def _ended(self, kind: str, data: dict[str, Any]) -> None:
        key = (data.get("plugin", ""), data.get("command", ""))
        outcome = ATTEMPT_EVENTS[kind]
        self.attempts.inc((*key, outcome))
        if outcome == "retrying":
            self.retries.inc(key)
        else:
            self.finished.inc((*key, outcome))
        duration_ms = data.get("duration_ms")
        if isinstance(duration_ms, int | float):
            self.duration.observe(key, duration_ms / 1000)

    def _fired(self, kind: str, data: dict[str, Any]) -> None:
        self.fires.inc((data.get("plugin", ""), data.get("schedule_id", "")))

    def _skipped(self, kind: str, data: dict[str, Any]) -> None:
        reason = str(data.get("reason", ""))
        if "still queued or running" in reason:  # the text names a count; the label must not
            reason = "already_running"
        self.skips.inc((data.get("plugin", ""), data.get("schedule_id", ""), reason))

    def _breaker(self, kind: str, data: dict[str, Any]) -> None:
        self.breaker_changes.inc((data.get("plugin", ""), data.get("command", ""), data.get("state", "")))

    def http(self, method: str, route: str, status: int, seconds: float) -> None:
        self.http_requests.inc((method, route, str(status)))
        self.http_duration.observe((method, route), seconds)


class _EventCollector(Collector):
    """The tap-fed counters and histograms, turned into families at scrape time."""

    def __init__(self, metrics: GatewayMetrics):
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        return self.metrics.families()


class _StateCollector(Collector):
    """Gauges computed at scrape time from the live gateway."""

    def __init__(self, gateway: Gateway):
        self.gateway = gateway

    def collect(self) -> Iterator[Metric]:
        gw = self.gateway
        now = utcnow()
        yield _gauge("ductile_up", "1 while the gateway runs", 1)
        yield _gauge("ductile_uptime_seconds", "Seconds since the gateway started", round(gw.uptime, 3))
        info = GaugeMetricFamily("ductile_build_info", "Version of the running gateway", labels=["version"])
        info.add_metric([gw.version], 1)
        yield info
        jobs = GaugeMetricFamily("ductile_jobs", "Jobs in the database by status (queue depth)", labels=["status"])
        degraded = 0
        reads = PREFETCHED.get() or store_reads(gw, breakers=False)
        counts = reads["counts"]
        if counts is None:
            counts, degraded = {}, 1
        for status in ("queued", "running", "succeeded", "failed", "timed_out", "dead"):
            jobs.add_metric([status], counts.get(status, 0))
        yield jobs
        if gw.store is not None and gw.store.write_fault is not None:
            degraded = 1
        dispatcher = gw.dispatcher
        if dispatcher is not None and dispatcher.unrecorded:
            degraded = 1
        yield _gauge("ductile_degraded", "1 while /healthz reports degraded", degraded)
        yield _gauge("ductile_workers_busy", "Plugin processes running now", dispatcher.busy if dispatcher else 0)
        yield _gauge("ductile_workers_max", "service.max_workers", gw.config.service.max_workers)
        yield _gauge("ductile_sse_clients", "Connected /events subscribers", gw.hub.subscriber_count)
        yield _gauge("ductile_plugins_loaded", "Enabled plugin instances", len(gw.registry.instances))
        yield from _schedule_gauges(gw, now.timestamp())
        yield from _breaker_gauges(gw)


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _schedule_gauges(gw: Gateway, now: float) -> Iterator[Metric]:
    labels = ["plugin", "schedule_id"]
    next_fire = GaugeMetricFamily(
        "ductile_schedule_next_fire_timestamp_seconds", "When the slot fires next", labels=labels
    )
    lateness = GaugeMetricFamily(
        "ductile_schedule_lateness_seconds", "How far past its fire time a due slot is (0 when on time)", labels=labels
    )
    last = GaugeMetricFamily(
        "ductile_schedule_last_fired_timestamp_seconds", "When the schedule last enqueued a job", labels=labels
    )
    health = GaugeMetricFamily(
        "ductile_schedule_health",
        "Schedule health (1 = current): ok, late, failing, stale, paused",
        labels=["plugin", "schedule_id", "state"],
    )
    success = GaugeMetricFamily(
        "ductile_schedule_last_success_timestamp_seconds", "When the schedule's last run succeeded", labels=labels
    )
    failures = GaugeMetricFamily(
        "ductile_schedule_consecutive_failures", "Finished runs since the last success", labels=labels
    )
    judged = getattr(gw, "schedule_health", {})
    entries = list(gw.scheduler.entries) if gw.scheduler is not None else []
    for entry in entries:
        found = judged.get((entry.instance, entry.spec.id))
        if found is not None:
            verdict, evidence = found
            for state in HEALTH_STATES:
                health.add_metric([entry.instance, entry.spec.id, state], 1 if verdict.state == state else 0)
            failures.add_metric([entry.instance, entry.spec.id], evidence.consecutive_failures)
            if evidence.last_success_at:
                success.add_metric([entry.instance, entry.spec.id], from_text(evidence.last_success_at).timestamp())
        key = [entry.instance, entry.spec.id]
        fire_at = entry.fire_at.timestamp()
        next_fire.add_metric(key, fire_at)
        lateness.add_metric(key, max(0.0, now - fire_at))
        if entry.last_fired:
            last.add_metric(key, from_text(entry.last_fired).timestamp())
    yield next_fire
    yield lateness
    yield last
    yield health
    yield success
    yield failures


BREAKER_STATES = ("closed", "open", "half_open")
HEALTH_STATES = ("ok", "late", "failing", "stale", "paused")


def store_reads(gw: Gateway, *, counts: bool = True, breakers: bool = True) -> dict[str, Any]:
    """What a scrape reads from the store: job counts (None when the store failed) and breaker
    rows. One call, so on PostgreSQL the route makes it off the event loop in one hop."""
    out: dict[str, Any] = {"counts": {}, "breakers": []}
    if gw.store is None:
        return out
    if counts:
        try:
            out["counts"] = gw.store.status_counts()
        except StoreError:
            out["counts"] = None
    if breakers:
        try:
            out["breakers"] = gw.store.breaker_rows()
        except StoreError:
            out["breakers"] = []
    return out


def _breaker_gauges(gw: Gateway) -> Iterator[Metric]:
    """One series per (plugin, command, state), 1 for the breaker's current state: alert on
    `ductile_breaker_state{state="open"} == 1`. Only breakers that have a row (ever counted)."""
    state = GaugeMetricFamily(
        "ductile_breaker_state", "Circuit breaker state (1 = current)", labels=["plugin", "command", "state"]
    )
    failures = GaugeMetricFamily(
        "ductile_breaker_failures", "Consecutive failures counted by the breaker", labels=["plugin", "command"]
    )
    rows = (PREFETCHED.get() or store_reads(gw, counts=False))["breakers"]
    for row in rows:
        for name in BREAKER_STATES:
            state.add_metric([row["plugin"], row["command"], name], 1 if row["state"] == name else 0)
        failures.add_metric([row["plugin"], row["command"]], row.get("failure_count") or 0)
    yield state
    yield failures


class HttpMetricsMiddleware:
    """Pure ASGI middleware: counts each response by method, route template and status.

    The route *template* (`/job/{job_id}`), never the raw path, so an attacker probing random
    URLs cannot create label values; unmatched paths count as `unmatched`."""

    def __init__(self, app: Any, metrics: GatewayMetrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def send_wrapper(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.http(scope.get("method", ""), template, status[0], time.perf_counter() - started)
