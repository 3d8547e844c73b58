"""`GET /metrics` on a real gateway after a known workload, parsed with prometheus-client's own
text parser: exact counter values, the HTTP route-template labels, and the scope rule."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from conftest import ADMIN_TOKEN, base_config, enqueue, free_port, make_plugin, wait_for
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.slow
READONLY = "metrics-readonly-token-0123456789"
JOBS_ONLY = "metrics-jobs-only-token-012345678"


def plugins(root) -> None:
    make_plugin(root, "okp", '#!/usr/bin/env bash\ncat >/dev/null\necho \'{"status":"ok","result":"fine"}\'\n')
    make_plugin(
        root, "badp", '#!/usr/bin/env bash\ncat >/dev/null\necho \'{"status":"error","error":"boom","retry":true}\'\n'
    )


def config(tmp_path, **api: Any) -> dict[str, Any]:
    root = tmp_path / "plugins"
    plugins(root)
    cfg = base_config(
        [root],
        {"okp": {}, "badp": {"retry": {"max_attempts": 2, "backoff_base": "100ms"}}},
        port=free_port(),
    )
    cfg["api"]["auth"]["tokens"] += [
        {"name": "ro", "token": READONLY, "scopes": ["system:ro"]},
        {"name": "jobs", "token": JOBS_ONLY, "scopes": ["jobs:ro"]},
    ]
    cfg["api"].update(api)
    return cfg


def scrape(url: str, token: str | None = ADMIN_TOKEN) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.get(f"{url}/metrics", headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def test_counters_after_a_known_workload_are_exact(tmp_path, gateway_factory):
    gw = gateway_factory(config(tmp_path))
    ok_ids = [enqueue(gw.url, ADMIN_TOKEN, "okp", "poll") for _ in range(3)]
    bad_id = enqueue(gw.url, ADMIN_TOKEN, "badp", "poll")
    with gw.client() as client:

        def done() -> bool:
            states = [client.get(f"/job/{j}").json()["status"] for j in [*ok_ids, bad_id]]
            return states == ["succeeded"] * 3 + ["failed"]

        wait_for(done, timeout=60, message="the workload to finish")
    s = scrape(gw.url)
    assert value(s, "ductile_jobs_enqueued_total", plugin="okp", command="poll", submitted_by="api") == 3
    assert value(s, "ductile_jobs_enqueued_total", plugin="badp", command="poll", submitted_by="api") == 1
    assert value(s, "ductile_job_attempts_total", plugin="okp", command="poll", outcome="succeeded") == 3
    assert value(s, "ductile_job_attempts_total", plugin="badp", command="poll", outcome="retrying") == 1
    assert value(s, "ductile_job_attempts_total", plugin="badp", command="poll", outcome="failed") == 1
    assert value(s, "ductile_jobs_finished_total", plugin="okp", command="poll", status="succeeded") == 3
    assert value(s, "ductile_jobs_finished_total", plugin="badp", command="poll", status="failed") == 1
    assert value(s, "ductile_job_retries_total", plugin="badp", command="poll") == 1
    assert value(s, "ductile_job_duration_seconds_count", plugin="okp", command="poll") == 3
    assert value(s, "ductile_job_duration_seconds_count", plugin="badp", command="poll") == 2
    assert value(s, "ductile_jobs", status="succeeded") == 3
    assert value(s, "ductile_jobs", status="failed") == 1
    assert value(s, "ductile_jobs", status="queued") == 0
    assert value(s, "ductile_workers_busy") == 0 and value(s, "ductile_workers_max") == 2
    assert value(s, "ductile_degraded") == 0 and value(s, "ductile_up") == 1
    assert value(s, "ductile_plugins_loaded") == 2
    # route templates, never raw paths: 4 enqueues on one label set, the job ids nowhere
    route = "/plugin/{plugin}/{command}"
    assert value(s, "ductile_http_requests_total", method="POST", route=route, status="202") == 4
    assert not any(ok_ids[0] in dict(labels).get("route", "") for _, labels in s)
    polls = value(s, "ductile_http_requests_total", method="GET", route="/job/{job_id}", status="200")
    assert polls is not None and polls >= 4


def test_schedule_gauges_and_fire_counter(tmp_path, gateway_factory):
    cfg = config(tmp_path)
    cfg["plugins"]["okp"]["schedules"] = [{"id": "hourly", "every": "1h"}]  # first slot fires at start
    gw = gateway_factory(cfg)
    with gw.client() as client:
        wait_for(
            lambda: client.get("/jobs", params={"plugin": "okp", "status": "succeeded"}).json()["total"] == 1,
            timeout=60,
            message="the first slot's job",
        )
    s = scrape(gw.url)
    assert value(s, "ductile_schedule_fires_total", plugin="okp", schedule_id="hourly") == 1
    assert value(s, "ductile_jobs_enqueued_total", plugin="okp", command="poll", submitted_by="scheduler") == 1
    fired = value(s, "ductile_schedule_last_fired_timestamp_seconds", plugin="okp", schedule_id="hourly")
    upcoming = value(s, "ductile_schedule_next_fire_timestamp_seconds", plugin="okp", schedule_id="hourly")
    assert fired is not None and upcoming is not None and 3590 <= upcoming - fired <= 3610
    assert value(s, "ductile_schedule_lateness_seconds", plugin="okp", schedule_id="hourly") == 0


def test_unknown_paths_share_one_label_and_the_scrape_needs_system_ro(tmp_path, gateway_factory):
    gw = gateway_factory(config(tmp_path))
    for i in range(5):
        assert httpx.get(f"{gw.url}/no/such/{i}", timeout=10).status_code == 404
    s = scrape(gw.url, READONLY)
    assert value(s, "ductile_http_requests_total", method="GET", route="unmatched", status="404") == 5
    assert httpx.get(f"{gw.url}/metrics", timeout=10).status_code == 401
    refused = httpx.get(f"{gw.url}/metrics", headers={"Authorization": f"Bearer {JOBS_ONLY}"}, timeout=10)
    assert refused.status_code == 403 and "lacks scope 'system:ro'" in refused.json()["error"]


def test_public_metrics_need_no_token_and_disabled_metrics_say_so(tmp_path, gateway_factory):
    gw = gateway_factory(config(tmp_path, metrics={"public": True}), name="public")
    s = scrape(gw.url, token=None)
    assert value(s, "ductile_up") == 1
    off = gateway_factory(config(tmp_path / "off", metrics={"enabled": False}), name="off")
    response = httpx.get(f"{off.url}/metrics", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10)
    assert response.status_code == 404 and "api.metrics.enabled: false" in response.json()["error"]


def test_alert_rules_and_dashboard_use_only_series_the_gateway_exports(tmp_path, gateway_factory):
    import json
    import re
    from pathlib import Path

    import yaml

    deploy = Path(__file__).resolve().parents[2] / "deploy"
    rules = yaml.safe_load((deploy / "prometheus-alerts.yml").read_text())
    exprs = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    dashboard = json.loads((deploy / "grafana-dashboard.json").read_text())
    exprs += [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    used = {name for expr in exprs for name in re.findall(r"\bductile_[a-z_]+", expr)}
    assert len(used) >= 8
    cfg = config(tmp_path)
    cfg["plugins"]["okp"]["schedules"] = [{"id": "hourly", "every": "1h"}]
    # a scheduled failure opens badp's breaker (threshold 1): the breaker series have samples too
    cfg["plugins"]["badp"].update(
        schedules=[{"id": "hourly", "every": "1h"}], circuit_breaker={"threshold": 1, "reset_after": "1h"}
    )
    gw = gateway_factory(cfg)
    enqueue(gw.url, ADMIN_TOKEN, "badp", "poll")  # a retry and a failure: every family has a sample
    with gw.client() as client:
        wait_for(lambda: client.get("/jobs", params={"status": "failed"}).json()["total"] == 2, timeout=60)
    samples = scrape(gw.url)
    assert value(samples, "ductile_breaker_state", plugin="badp", command="poll", state="open") == 1
    assert value(samples, "ductile_breaker_state", plugin="badp", command="poll", state="closed") == 0
    assert value(samples, "ductile_breaker_transitions_total", plugin="badp", command="poll", state="open") == 1
    exported = {name for name, _ in samples}
    missing = sorted(used - exported)
    assert not missing, f"deploy/ uses series the gateway does not export: {missing}"
