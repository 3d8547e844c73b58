"""The job detail page, /ui/jobs/{id}: attempts, logs, stderr tail, result (redacted, and hidden
without jobs:result:ro), transitions, emitted events; retry and cancel buttons for jobs:rw only,
each a CSRF-protected POST running the API's own retry/cancel; live status. Real gateway, real
plugin processes, real Chromium."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from conftest import ADMIN_TOKEN, wait_for

from ui import rig


@pytest.fixture(scope="module")
def flow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    rig.browser_ready()
    gw = rig.start_flow_gateway(tmp_path_factory.mktemp("detail"))
    yield gw
    gw.stop()


@pytest.fixture
def signed_in(browser: Any, flow: Any) -> Iterator[Callable[..., Any]]:
    """`signed_in(role, **context_options)`: a page of a new context, signed in on `flow`."""
    with rig.browser_pages(browser, flow) as make:
        yield make


def settled(gw: Any, job_id: str, statuses: set[str]) -> str:
    return wait_for(lambda: (s := rig.job_status(gw, job_id)) in statuses and s, timeout=60, message=f"{statuses}")


def test_detail_shows_attempts_logs_stderr_tail_events_and_redacted_result(signed_in: Any, flow: Any) -> None:
    job_id = rig.enqueue(flow, "chatty", "poll", {"note": "from the test"})
    settled(flow, job_id, {"succeeded"})
    page = signed_in("admin")
    response = page.goto(f"/ui/jobs/{job_id}")
    assert response is not None and response.status == 200
    assert page.locator("#job-status").inner_text() == "succeeded"
    rows = page.locator("table.attempts tbody tr")
    assert rows.count() == 1
    assert "success" in rows.first.inner_text() and "ms" in rows.first.inner_text()
    attempt = page.locator("details.attempt-detail").first
    assert "said hello" in attempt.locator(".logs").inner_text()
    stderr = attempt.locator("pre.stderr").inner_text()
    assert "stderr line 59" in stderr and "stderr line 0\n" not in stderr  # the tail: last 40 lines
    assert "(last lines)" in attempt.inner_text()
    result = page.locator("#job-result").inner_text()
    assert '"greeting": "hello"' in result and '"api_token": "***"' in result
    events = page.get_by_role("region", name="Emitted events")
    assert "chatty.said" in events.inner_text()
    assert [t.inner_text() for t in page.locator("table.transitions tbody tr td:nth-child(3)").all()][-1] == (
        "succeeded"
    )
    html = page.content()
    assert "hunter2-secret" not in html and "pw-secret" not in html  # redacted everywhere on the page
    assert '"note": "from the test"' in page.get_by_role("region", name="Payload").inner_text()


def test_unknown_job_is_a_404_page(signed_in: Any) -> None:
    page = signed_in("admin")
    response = page.goto("/ui/jobs/00000000-0000-0000-0000-000000000000")
    assert response is not None and response.status == 404
    assert "no job" in page.get_by_role("alert").inner_text().lower()


def test_failed_job_retried_from_the_button_links_a_new_job(signed_in: Any, flow: Any) -> None:
    old = rig.enqueue(flow, "work", "poll", {"fail": True})
    settled(flow, old, {"failed"})
    page = signed_in("operator")
    page.goto(f"/ui/jobs/{old}")
    assert "told to fail" in page.get_by_role("region", name="Summary").inner_text()
    assert page.get_by_role("button", name="Cancel job").count() == 0  # a finished job cannot be cancelled
    page.get_by_role("button", name="Retry").click()
    page.wait_for_url(f"**/ui/jobs/{old}")
    flash = page.get_by_role("status").filter(has_text="Retried as a new job")
    new = flash.get_by_role("link").inner_text()
    answer = httpx.get(f"{flow.url}/job/{old}", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10)
    [new_id] = answer.json()["retried_by"]
    assert new_id.startswith(new) and new_id != old
    assert page.locator("#retried-by").inner_text() == new_id[:8]
    flash.get_by_role("link").click()
    page.wait_for_url(f"**/ui/jobs/{new_id}")
    assert page.locator("#retry-of").inner_text() == old[:8]
    assert httpx.get(f"{flow.url}/job/{new_id}", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json()[
        "submitted_by"
    ] == "ui"


def test_running_job_cancelled_from_the_button(signed_in: Any, flow: Any) -> None:
    job_id = rig.enqueue(flow, "lazy", "poll", {"sleep": 120})
    settled(flow, job_id, {"running"})
    page = signed_in("admin")
    page.goto(f"/ui/jobs/{job_id}")
    assert page.locator("#job-status").inner_text() == "running"
    page.get_by_role("button", name="Cancel job").click()
    page.wait_for_url(f"**/ui/jobs/{job_id}")
    assert "Cancelled" in page.get_by_role("status").filter(has_text="Cancelled").inner_text()
    assert page.locator("#job-status").inner_text() == "dead"
    assert rig.job_status(flow, job_id) == "dead"
    assert page.get_by_role("button", name="Retry").is_visible()  # now finished: retry instead


def test_status_updates_live_without_a_reload(signed_in: Any, flow: Any) -> None:
    job_id = rig.enqueue(flow, "lazy", "poll", {"sleep": 3})
    settled(flow, job_id, {"running"})
    page = signed_in("viewer")
    page.goto(f"/ui/jobs/{job_id}")
    page.wait_for_function("() => document.getElementById('live-status').textContent.indexOf('Live') >= 0")
    marker = page.evaluate("window.__marker = Math.random()")
    page.wait_for_function("() => document.getElementById('job-status').textContent === 'succeeded'", timeout=60_000)
    assert page.evaluate("window.__marker") == marker  # the same document: updated in place


def test_viewer_sees_no_buttons_and_a_forged_post_is_refused(signed_in: Any, flow: Any) -> None:
    old = rig.enqueue(flow, "work", "poll", {"fail": True})
    settled(flow, old, {"failed"})
    page = signed_in("viewer")
    page.goto(f"/ui/jobs/{old}")
    assert page.locator("#job-status").inner_text() == "failed"
    assert page.get_by_role("button", name="Retry").count() == 0
    assert page.get_by_role("button", name="Cancel job").count() == 0
    # the viewer's own session and CSRF token, posting anyway: refused by scope
    for action in ("retry", "cancel"):
        status = page.evaluate(
            "a => window.ductile.post(a).then(r => r.status)", f"/ui/jobs/{old}/{action}"
        )
        assert status == 403
    answer = httpx.get(f"{flow.url}/job/{old}", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10)
    assert "retried_by" not in answer.json()


def test_token_without_result_scope_sees_results_hidden(signed_in: Any, flow: Any) -> None:
    job_id = rig.enqueue(flow, "chatty", "poll")
    settled(flow, job_id, {"succeeded"})
    page = signed_in("blind")  # jobs:status:ro only
    response = page.goto(f"/ui/jobs/{job_id}")
    assert response is not None and response.status == 200
    assert "need the scope jobs:result:ro" in page.locator("#result-hidden").inner_text()
    assert page.locator("#job-result").count() == 0
    html = page.content()
    assert "hello" not in html and "stderr line" not in html and "said hello" not in html
    assert "jobs:logs:ro" in page.get_by_role("region", name="Attempts").inner_text()
    # the API answers the same token the same way
    blind = rig.TOKENS["blind"][0]
    body = httpx.get(f"{flow.url}/job/{job_id}", headers={"Authorization": f"Bearer {blind}"}, timeout=10).json()
    assert "result" not in body


def test_accessibility_and_phone_width(signed_in: Any, flow: Any) -> None:
    job_id = rig.enqueue(flow, "chatty", "poll")
    settled(flow, job_id, {"succeeded"})
    page = signed_in("admin")
    page.goto(f"/ui/jobs/{job_id}")
    assert rig.axe_problems(page) == []
    phone = signed_in("admin", viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    phone.goto(f"/ui/jobs/{job_id}")
    assert rig.no_horizontal_scroll(phone)
    phone.keyboard.press("Tab")  # the skip link first, then the page is reachable by keyboard
    assert phone.evaluate("document.activeElement.textContent") == "Skip to content"


HOSTILE_PATHS = [
    "/ui/jobs/" + "x" * 65,
    "/ui/jobs/'%20OR%201=1--",
    "/ui/jobs/..%2F..%2Fetc%2Fpasswd",
    "/ui/jobs/%00",
    "/ui/jobs/" + "x" * 65 + "/live",
    "/ui/pipelines/%3Cscript%3Ealert(1)",
    "/ui/pipelines/" + "p" * 500,
]


def test_hostile_paths_are_a_plain_404(signed_in: Any, flow: Any) -> None:
    page = signed_in("admin")
    [cookie] = [c for c in page.context.cookies() if c["name"] == "ductile_ui"]
    for path in HOSTILE_PATHS:
        response = httpx.get(f"{flow.url}{path}", cookies={"ductile_ui": cookie["value"]}, timeout=10)
        assert response.status_code == 404, f"{path}: {response.text[:300]}"
        if response.headers["content-type"].startswith("text/html"):  # (a path with %2F is the API's JSON 404)
            assert "<script>alert" not in response.text, path  # escaped, never echoed as markup
