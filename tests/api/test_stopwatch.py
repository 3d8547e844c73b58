"""`GET /stopwatch/{plugin}` against a real gateway: a real plugin that sleeps a known time and
reports sub-spans runs as two pipeline steps and directly; the answer groups its runs by step,
has Ductile's shape and 60-slice trend, shows sub-spans only to a token that may read results,
and refuses bad windows, unknown plugins and tokens without the scope."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import (
    ADMIN_TOKEN,
    GatewayProcess,
    base_config,
    enqueue,
    free_port,
    make_plugin,
    run_ductile,
    wait_for,
    write_config,
)

SLEEP_MS = 150
TIMER = f"""\
#!/usr/bin/env python3
import json, sys, time
json.load(sys.stdin)
time.sleep({SLEEP_MS / 1000})
subs = [
    {{"name": "fetch", "dur_ns": 30_000_000, "url": "https://example.test"}},
    {{"name": "token=hunter2", "dur_ns": 1_000_000}},
    "not an object",
    {{"name": "parse", "dur_ns": 10_400_000}},
    {{"dur_ns": 5}},
    {{"name": "late", "dur_ns": 1}},
]
print(json.dumps({{"status": "ok", "result": "timed", "ductile_stopwatch_subs": subs}}))
"""
STATUS = "tok-stopwatch-status-0123456789"
RESULTS = "tok-stopwatch-results-0123456789"
CATALOG = "tok-stopwatch-catalog-0123456789"


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    root = tmp_path_factory.mktemp("stopwatch")
    # max_subs 3: of the objects fetch, token=…, parse count; the nameless one and "late" do not
    make_plugin(root / "plugins", "timer", TIMER, extra={"stopwatch": {"max_subs": 3}})
    port = free_port()
    config = base_config(
        [root / "plugins"],
        {"timer": {}, "idle": {"uses": "timer"}, "off": {"uses": "timer", "enabled": False}},
        port=port,
    )
    config["pipelines"] = [
        {
            "name": "timed",
            "on": "timing.go",
            "execution_mode": "synchronous",
            "steps": [{"id": "first", "uses": "timer"}, {"id": "second", "uses": "timer"}],
        }
    ]
    tokens = config["api"]["auth"]["tokens"]
    tokens.append({"name": "status", "token": STATUS, "scopes": ["jobs:status:ro"]})
    tokens.append({"name": "results", "token": RESULTS, "scopes": ["jobs:status:ro", "jobs:result:ro"]})
    tokens.append({"name": "catalog", "token": CATALOG, "scopes": ["plugin:ro"]})
    write_config(root / "gw", config)
    gateway = GatewayProcess(root / "gw", port=port).start()
    try:
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        ran = httpx.post(f"{gateway.url}/pipeline/timed", json={"payload": {}}, headers=admin, timeout=60)
        assert ran.status_code == 200 and ran.json()["status"] == "succeeded", ran.text
        direct = [enqueue(gateway.url, ADMIN_TOKEN, "timer", command) for command in ("poll", "handle")]

        def done() -> bool:
            jobs = [httpx.get(f"{gateway.url}/job/{j}", headers=admin, timeout=10).json() for j in direct]
            return all(job["status"] == "succeeded" for job in jobs)

        wait_for(done, timeout=60, message="the direct runs")
        yield gateway
    finally:
        gateway.stop()


def get(gw: GatewayProcess, path: str, token: str | None = ADMIN_TOKEN, **params: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(f"{gw.url}{path}", params=params, headers=headers, timeout=30)


def test_shape_steps_and_trend(gw: GatewayProcess) -> None:
    answer = get(gw, "/stopwatch/timer")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"plugin", "window", "captured_at", "steps", "truncated"}
    assert (body["plugin"], body["window"], body["truncated"]) == ("timer", "1h", False)
    assert body["captured_at"].endswith("Z")
    steps = body["steps"]
    assert [(s["step"], s["sample_count"]) for s in steps] == [("", 2), ("first", 1), ("second", 1)]
    for step in steps:
        assert set(step) == {"step", "sample_count", "p50_ms", "p95_ms", "p99_ms", "trend_p95_ms"}
        assert SLEEP_MS <= step["p50_ms"] <= step["p95_ms"] <= step["p99_ms"] < 30_000
        trend = step["trend_p95_ms"]
        assert len(trend) == 60 and all(isinstance(v, int) for v in trend)
        # the runs happened within the last minute or two: only the newest slices are filled
        assert trend[:58] == [0] * 58 and max(trend[58:]) == step["p95_ms"]


def test_every_window_and_its_default(gw: GatewayProcess) -> None:
    for window in ("5m", "1h", "24h", "7d", "30d"):
        body = get(gw, "/stopwatch/timer", window=window).json()
        assert body["window"] == window and sum(s["sample_count"] for s in body["steps"]) == 4
        assert all(len(s["trend_p95_ms"]) == 60 for s in body["steps"])
    assert get(gw, "/stopwatch/timer", window="30d").json()["steps"][0]["trend_p95_ms"][-1] > 0


def test_subs_only_when_asked_and_allowed(gw: GatewayProcess) -> None:
    expected = [
        {"name": "fetch", "sample_count": 2, "p50_ms": 30, "p95_ms": 30, "p99_ms": 30},
        {"name": "parse", "sample_count": 2, "p50_ms": 10, "p95_ms": 10, "p99_ms": 10},
        {"name": "token=***", "sample_count": 2, "p50_ms": 1, "p95_ms": 1, "p99_ms": 1},
    ]
    for token in (ADMIN_TOKEN, RESULTS):
        steps = get(gw, "/stopwatch/timer", token, include_subs="true").json()["steps"]
        assert steps[0]["subs"] == expected  # capped at the manifest's max_subs (3); names redacted
        assert [s["subs"][0]["sample_count"] for s in steps] == [2, 1, 1]
    downgraded = get(gw, "/stopwatch/timer", STATUS, include_subs="true")
    assert downgraded.status_code == 200  # no 403: the sub-spans are just left out
    assert all("subs" not in s for s in downgraded.json()["steps"])
    assert all("subs" not in s for s in get(gw, "/stopwatch/timer").json()["steps"])
    assert all("subs" not in s for s in get(gw, "/stopwatch/timer", include_subs="false").json()["steps"])
    assert "hunter2" not in get(gw, "/stopwatch/timer", include_subs="true").text


def test_a_configured_plugin_without_runs_has_no_steps(gw: GatewayProcess) -> None:
    answer = get(gw, "/stopwatch/idle", window="5m", include_subs="true")
    assert answer.status_code == 200 and answer.json()["steps"] == []
    disabled = get(gw, "/stopwatch/off")  # configured, not running: its history (none), not a 404
    assert disabled.status_code == 200 and disabled.json()["steps"] == []


def test_bad_window_unknown_plugin_and_bad_flag(gw: GatewayProcess) -> None:
    for window in ("1d", "", "1H", "60m"):
        answer = get(gw, "/stopwatch/timer", window=window)
        assert answer.status_code == 400
        assert answer.json() == {"error": "invalid window (use 5m, 1h, 24h, 7d, or 30d)"}
    twice = httpx.get(
        f"{gw.url}/stopwatch/timer?window=1h&window=5m", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    assert twice.status_code == 400 and twice.json()["error"].startswith("window:")
    flag = get(gw, "/stopwatch/timer", include_subs="maybe")
    assert flag.status_code == 400 and flag.json()["error"].startswith("include_subs:")
    missing = get(gw, "/stopwatch/ghost")
    assert missing.status_code == 404
    assert missing.json()["error"] == "plugin not found: 'ghost' (known: idle, off, timer)"


def test_scopes(gw: GatewayProcess) -> None:
    assert get(gw, "/stopwatch/timer", token=None).status_code == 401
    assert get(gw, "/stopwatch/timer", token="not-a-real-token-000").status_code == 401
    refused = get(gw, "/stopwatch/timer", CATALOG)
    assert refused.status_code == 403 and refused.json()["error"].startswith("insufficient scope")
    assert "jobs:status:ro" in refused.json()["error"]
    assert get(gw, "/stopwatch/timer", STATUS).status_code == 200
    # the scope check comes before the plugin and parameter checks
    assert get(gw, "/stopwatch/ghost", CATALOG, window="bad").status_code == 403


def test_listed_in_discovery_and_openapi(gw: GatewayProcess) -> None:
    endpoints = httpx.get(f"{gw.url}/", timeout=10).json()["endpoints"]
    assert {"method": "GET", "path": "/stopwatch/{plugin}", "scope": "jobs:status:ro"}.items() <= next(
        e for e in endpoints if e["path"] == "/stopwatch/{plugin}"
    ).items()
    op = httpx.get(f"{gw.url}/openapi.json", timeout=10).json()["paths"]["/stopwatch/{plugin}"]["get"]
    assert op["x-required-scope"] == "jobs:status:ro"
    assert {p["name"] for p in op["parameters"]} == {"plugin", "window", "include_subs"}
    assert {"400", "401", "403", "404"} <= set(op["responses"])


def test_a_manifest_with_max_subs_out_of_range_is_refused(tmp_path: Path) -> None:
    make_plugin(tmp_path / "plugins", "wide", TIMER, extra={"stopwatch": {"max_subs": 1000}})
    write_config(tmp_path / "cfg", base_config([tmp_path / "plugins"], {"wide": {}}))
    checked = run_ductile("config", "check", "--config", str(tmp_path / "cfg"))
    assert checked.returncode == 1
    assert "stopwatch.max_subs" in checked.stdout + checked.stderr
    assert "1..256" in checked.stdout + checked.stderr
