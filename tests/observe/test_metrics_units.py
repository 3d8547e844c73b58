"""The tap-fed families of ductile.metrics without a gateway: bucket edges, label values, and the
text a scrape renders (exact, parsed by prometheus-client's own parser)."""

from __future__ import annotations

from types import SimpleNamespace

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from ductile.events import Event
from ductile.metrics import GatewayMetrics


def scrape(metrics: GatewayMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    for collector in list(metrics.registry._collector_to_names):  # no live gateway for the gauges
        if type(collector).__name__ == "_StateCollector":
            metrics.registry.unregister(collector)
    text = generate_latest(metrics.registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_counts_buckets_and_labels_after_a_known_feed() -> None:
    metrics = GatewayMetrics(SimpleNamespace(hub=None))  # type: ignore[arg-type]
    events = [
        ("job.queued", {"plugin": "p", "command": "c", "submitted_by": "api"}),
        ("job.queued", {"plugin": "p", "command": "c", "submitted_by": "api"}),
        ("job.retrying", {"plugin": "p", "command": "c", "duration_ms": 10}),  # exactly the 0.01 s edge
        ("job.succeeded", {"plugin": "p", "command": "c", "duration_ms": 10.5}),
        ("job.started", {"plugin": "p", "command": "c"}),  # not counted
        ("scheduler.skipped", {"plugin": "p", "schedule_id": "s", "reason": "2 still queued or running"}),
    ]
    for i, (kind, data) in enumerate(events):
        metrics.observe(Event(id=i, type=kind, data=data))
    metrics.http("GET", "/jobs", 200, 0.0004)
    got = scrape(metrics)
    pc = (("command", "c"), ("plugin", "p"))
    assert got[("ductile_jobs_enqueued_total", (*pc, ("submitted_by", "api")))] == 2
    assert got[("ductile_job_attempts_total", (*pc[:1], ("outcome", "retrying"), pc[1]))] == 1
    assert got[("ductile_job_retries_total", pc)] == 1
    assert got[("ductile_jobs_finished_total", (*pc, ("status", "succeeded")))] == 1
    assert got[("ductile_job_duration_seconds_bucket", (*pc[:1], ("le", "0.01"), pc[1]))] == 1
    assert got[("ductile_job_duration_seconds_bucket", (*pc[:1], ("le", "0.05"), pc[1]))] == 2
    assert got[("ductile_job_duration_seconds_bucket", (*pc[:1], ("le", "+Inf"), pc[1]))] == 2
    assert got[("ductile_job_duration_seconds_count", pc)] == 2
    assert abs(got[("ductile_job_duration_seconds_sum", pc)] - 0.0205) < 1e-9
    skip = (("plugin", "p"), ("reason", "already_running"), ("schedule_id", "s"))
    assert got[("ductile_schedule_skips_total", skip)] == 1
    route = (("method", "GET"), ("route", "/jobs"))
    assert got[("ductile_http_requests_total", (*route, ("status", "200")))] == 1
    assert got[("ductile_http_request_duration_seconds_bucket", (("le", "0.001"), *route))] == 1
    assert not any(name.endswith("_created") for name, _ in got)
