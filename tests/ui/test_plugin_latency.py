"""The Latency section of `/ui/plugins/{name}`: `GET /stopwatch/{plugin}` as a table per pipeline
step with a server-drawn p95 sparkline — shown only to a token that also has `jobs:status:ro`
(the stopwatch's scope); a `plugin:catalog:ro` token gets the page and a note, no numbers.
Sub-spans are never on the page. Real gateway, a real plugin process that sleeps 50 or 150 ms
as its payload says, run directly and as a pipeline step; real Chromium; and the HTML without a
browser compared number for number with the API."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import ADMIN_TOKEN, GatewayProcess, make_plugin, write_config

from ui import rig

TIMED = """\
#!/usr/bin/env python3
import json, sys, time
req = json.load(sys.stdin)
direct = req.get("payload") or {}
step = (req.get("event") or {}).get("payload") or direct.get("payload") or {}  # a pipeline step's event
time.sleep(float(direct.get("sleep") or step.get("sleep") or 0))
subs = [{"name": "subspan-only-in-the-api", "dur_ns": 1000000}]
print(json.dumps({"status": "ok", "result": {"slept": True}, "ductile_stopwatch_subs": subs}))
"""
CATALOG_ONLY = "ui-latency-catalog-only-token-0123456789"  # exactly plugin:catalog:ro
WATCHER = "ui-latency-watcher-token-0123456789"  # plugin:catalog:ro + jobs:status:ro
TOKENS = {"catalog-only": CATALOG_ONLY, "watcher": WATCHER}
PIPELINES = [
    {
        "name": "measure",
        "on": "measure.go",
        "execution_mode": "synchronous",
        "steps": [{"id": "weigh", "uses": "timed"}],
    }
]
DIRECT_RUNS = [0.05, 0.05, 0.05, 0.15, 0.15, 0.15]
STEP_RUNS = 2  # each sleeping 150 ms
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture(scope="module")
def latency_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    rig.browser_ready()
    root = tmp_path_factory.mktemp("ui-latency")
    make_plugin(
        root / "plugins",
        "timed",
        TIMED,
        commands=[{"name": "poll", "type": "read"}, {"name": "handle", "type": "write"}],
    )
    config, port = rig.ui_config(root, plugins={"timed": {}, "idle": {"uses": "timed"}}, pipelines=PIPELINES)
    tokens = config["api"]["auth"]["tokens"]
    tokens.append({"name": "catalog-only", "token": CATALOG_ONLY, "scopes": ["plugin:catalog:ro"]})
    tokens.append({"name": "watcher", "token": WATCHER, "scopes": ["plugin:catalog:ro", "jobs:status:ro"]})
    write_config(root / "gw", config)
    gw = GatewayProcess(root / "gw", port=port).start()
    try:
        jobs = [rig.enqueue(gw, "timed", payload={"sleep": s}) for s in DIRECT_RUNS]
        for _ in range(STEP_RUNS):
            ran = httpx.post(f"{gw.url}/pipeline/measure", json={"payload": {"sleep": 0.15}}, headers=ADMIN, timeout=60)
            assert ran.status_code == 200 and ran.json()["status"] == "succeeded", ran.text
        deadline = time.monotonic() + 60
        while any(rig.job_status(gw, j) != "succeeded" for j in jobs):
            assert time.monotonic() < deadline, "direct runs did not finish"
            time.sleep(0.1)
        yield gw
    finally:
        gw.stop()


def api(gw: GatewayProcess, plugin: str, window: str, **extra: str) -> dict[str, Any]:
    response = httpx.get(f"{gw.url}/stopwatch/{plugin}", params={"window": window, **extra}, headers=ADMIN, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def signed_in(browser: Any, latency_gateway: GatewayProcess) -> Iterator[Any]:
    with rig.browser_pages(browser, latency_gateway, TOKENS) as make:
        yield make


def cell(row: Any, column: str) -> int:
    return int(row.locator(f'[data-col="{column}"]').inner_text())


def test_rows_per_step_with_counts_and_percentiles(signed_in: Any) -> None:
    page = signed_in()
    response = page.goto("/ui/plugins/timed")
    assert response is not None and response.status == 200
    section = page.locator("#latency")
    assert section.get_by_role("heading", name="Latency").is_visible()
    table = section.get_by_role("table", name="Latency of timed per step, last 24 h")
    rows = table.locator("tbody tr")
    assert rows.count() == 2
    direct = table.get_by_role("row").filter(has_text="direct (API, schedule, CLI)")
    step = table.locator('tr[data-step="weigh"]')
    assert "weigh" in step.get_by_role("rowheader").inner_text()
    assert cell(direct, "count") == len(DIRECT_RUNS) and cell(step, "count") == STEP_RUNS
    # nearest rank over three 50 ms runs and three 150 ms ones: p50 is a 50 ms run, p95 and p99 a 150 ms one
    # (plus process start-up; the upper bound is only a deadline for a loaded box)
    assert 50 <= cell(direct, "p50") <= cell(direct, "p95") <= cell(direct, "p99")
    assert 150 <= cell(direct, "p95") < 3000
    assert 150 <= cell(step, "p50") <= cell(step, "p95") < 3000
    assert "subspan-only-in-the-api" not in page.content()


def test_the_sparkline_is_drawn_with_its_numbers_in_words(signed_in: Any) -> None:
    page = signed_in()
    page.goto("/ui/plugins/timed")
    for row in (page.locator('tr[data-step=""]'), page.locator('tr[data-step="weigh"]')):
        spark = row.get_by_role("img")
        label = spark.get_attribute("aria-label") or ""
        assert re.search(
            r"last 24 h, 60 slices, oldest left: \d+ with runs, (all \d+ ms|from \d+ ms to \d+ ms)$", label
        )
        assert spark.locator("title").text_content() == label
        assert spark.locator("rect").count() >= 1
        high = max(int(v) for v in (spark.get_attribute("data-trend") or "").split(","))
        assert f"{high} ms" in label
        assert "p95 by slice start (UTC):" in row.locator(".visually-hidden").text_content()


def test_switching_windows_with_plain_links(signed_in: Any) -> None:
    page = signed_in()
    page.goto("/ui/plugins/timed")
    windows = page.get_by_role("navigation", name="Latency window")
    assert windows.locator('[aria-current="true"]').inner_text().startswith("24h")
    windows.get_by_role("link", name="5m").click()
    page.wait_for_url("**/ui/plugins/timed?window=5m#latency")
    assert page.get_by_role("table", name="Latency of timed per step, last 5 min").is_visible()
    assert windows.locator('[aria-current="true"]').inner_text().startswith("5m")
    assert "last 5 min" in (page.locator('tr[data-step=""]').get_by_role("img").get_attribute("aria-label") or "")
    windows.get_by_role("link", name="30d").click()
    page.wait_for_url("**/ui/plugins/timed?window=30d#latency")
    assert cell(page.locator('tr[data-step=""]'), "count") == len(DIRECT_RUNS)


def test_a_plugin_without_runs_says_so_in_words(signed_in: Any) -> None:
    page = signed_in()
    page.goto("/ui/plugins/idle")
    assert page.locator("#latency-empty").inner_text() == "No runs in the last 24 h."
    assert page.locator("#latency table").count() == 0
    page.goto("/ui/plugins/idle?window=7d")
    assert page.locator("#latency-empty").inner_text() == "No runs in the last 7 days."


def test_a_bad_window_is_a_400_naming_the_choices(signed_in: Any) -> None:
    page = signed_in()
    response = page.goto("/ui/plugins/timed?window=2h")
    assert response is not None and response.status == 400
    assert page.locator("#latency-error").inner_text() == "Bad window: invalid window (use 5m, 1h, 24h, 7d, or 30d)"
    assert page.locator("#latency table").count() == 0
    assert page.get_by_role("heading", name="Commands").is_visible()  # the rest of the page is there
    page.get_by_role("navigation", name="Latency window").get_by_role("link", name="1h").click()
    page.wait_for_url("**/ui/plugins/timed?window=1h#latency")
    assert page.locator("#latency-error").count() == 0 and page.locator("#latency-table").is_visible()


def test_catalog_only_token_sees_the_note_and_no_numbers(signed_in: Any) -> None:
    page = signed_in("catalog-only")
    response = page.goto("/ui/plugins/timed")
    assert response is not None and response.status == 200
    section = page.locator("#latency")
    assert "jobs:status:ro" in section.locator("#latency-note").inner_text()
    assert section.locator("table, svg, nav").count() == 0
    assert not re.search(r"\d", section.inner_text())
    assert "data-trend" not in page.content() and "direct (API" not in page.content()


def test_jobs_status_ro_is_what_opens_the_section(signed_in: Any) -> None:
    page = signed_in("watcher")  # plugin:catalog:ro and jobs:status:ro only
    page.goto("/ui/plugins/timed")
    assert page.locator("#latency-note").count() == 0
    assert cell(page.locator('tr[data-step="weigh"]'), "count") == STEP_RUNS


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize(
    ("role", "path"),
    [("admin", "/ui/plugins/timed"), ("admin", "/ui/plugins/idle"), ("catalog-only", "/ui/plugins/timed")],
)
def test_no_serious_accessibility_violations(signed_in: Any, scheme: str, role: str, path: str) -> None:
    page = signed_in(role, color_scheme=scheme)
    page.goto(path)
    assert rig.axe_problems(page) == []


def test_phone_width_has_no_horizontal_scroll(signed_in: Any) -> None:
    page = signed_in(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, color_scheme="dark")
    page.goto("/ui/plugins/timed")
    assert page.locator("#latency-table").is_visible()
    assert rig.no_horizontal_scroll(page)


# --- server-rendered, no browser: the page's numbers are the API's ------------------------------


ROW = re.compile(
    r'<tr data-step="(?P<step>[^"]*)">.*?data-col="count">(?P<count>\d+)<.*?data-col="p50">(?P<p50>\d+)<'
    r'.*?data-col="p95">(?P<p95>\d+)<.*?data-col="p99">(?P<p99>\d+)<.*?data-trend="(?P<trend>[\d,]+)"',
    re.S,
)


def page_steps(html: str) -> list[dict[str, Any]]:
    return [
        {
            "step": m["step"],
            "sample_count": int(m["count"]),
            "p50_ms": int(m["p50"]),
            "p95_ms": int(m["p95"]),
            "p99_ms": int(m["p99"]),
            "trend_p95_ms": [int(v) for v in m["trend"].split(",")],
        }
        for m in ROW.finditer(html)
    ]


@pytest.mark.parametrize("window", ["1h", "24h", "30d"])
def test_html_numbers_equal_get_stopwatch(latency_gateway: GatewayProcess, window: str) -> None:
    with rig.signed_in_client(latency_gateway, ADMIN_TOKEN) as client:
        for _ in range(3):  # a slice boundary may pass between the two reads: then read both again
            html = client.get(f"/ui/plugins/timed?window={window}").text
            body = api(latency_gateway, "timed", window)
            if page_steps(html) == body["steps"]:
                break
        assert page_steps(html) == body["steps"]
    assert [s["step"] for s in body["steps"]] == ["", "weigh"]
    assert body["truncated"] is False and "Truncated" not in html


def test_html_never_holds_sub_spans_even_for_admin(latency_gateway: GatewayProcess) -> None:
    with_subs = api(latency_gateway, "timed", "24h", include_subs="true")
    assert with_subs["steps"][0]["subs"][0]["name"] == "subspan-only-in-the-api"  # they exist
    with rig.signed_in_client(latency_gateway, ADMIN_TOKEN) as client:
        html = client.get("/ui/plugins/timed?include_subs=true").text
    assert "subspan-only-in-the-api" not in html


def test_html_without_jobs_status_ro_holds_no_latency(latency_gateway: GatewayProcess) -> None:
    with rig.signed_in_client(latency_gateway, CATALOG_ONLY) as client:
        response = client.get("/ui/plugins/timed")
        twice = client.get("/ui/plugins/timed?window=1h&window=5m")
    assert response.status_code == 200
    section = response.text.split('id="latency">', 1)[1].split("</section>", 1)[0]
    assert 'id="latency-note"' in section and "<code>jobs:status:ro</code>" in section
    assert "data-col" not in response.text and '<svg class="spark"' not in response.text
    assert twice.status_code == 400 and "window: given 2 times" in twice.text
