"""The jobs page: GET /jobs filters as controls (the URL is the view), cursor paging, bad
filters explained, live rows over /ui/events. Real gateway, real plugin processes, Chromium."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qs, urlparse

from conftest import wait_for

from ui import rig


def _rows(page: Any) -> list[dict[str, str]]:
    return page.locator("#jobs-table tbody tr[data-job]").evaluate_all(
        """rows => rows.map(r => ({
            id: r.getAttribute('data-job'),
            plugin: r.children[1].innerText,
            status: r.querySelector('[data-status]').getAttribute('data-status'),
        }))"""
    )


def test_filter_by_plugin_and_status_with_the_form(admin_page: Any, ui_gateway: Any) -> None:
    failed = [rig.enqueue(ui_gateway, "flaky", payload={"fail": True}) for _ in range(2)]
    ok = rig.enqueue(ui_gateway, "flaky")
    for job_id in [*failed, ok]:
        wait_for(lambda j=job_id: rig.job_status(ui_gateway, j) not in ("queued", "running"), timeout=60)
    page = admin_page
    page.goto("/ui/jobs")
    page.get_by_label("Plugin").fill("flaky")
    page.get_by_label("Status").select_option(["failed", "dead"])
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/ui/jobs?*")
    query = parse_qs(urlparse(page.url).query)
    assert query["plugin"] == ["flaky"] and sorted(query["status"]) == ["dead", "failed"]
    rows = _rows(page)
    ids = {r["id"] for r in rows}
    assert set(failed) <= ids and ok not in ids
    assert all(r["plugin"] == "flaky" and r["status"] in ("failed", "dead") for r in rows)
    # the controls show the view they produced, so it can be refined or shared as is
    assert page.get_by_label("Plugin").input_value() == "flaky"
    assert sorted(page.locator("#f-status option:checked").all_inner_texts()) == ["dead", "failed"]
    # the same URL opened fresh shows the same rows
    again = page.context.new_page()
    again.goto(page.url)
    assert {r["id"] for r in _rows(again)} == ids


def test_cursor_paging(admin_page: Any, ui_gateway: Any) -> None:
    tag = f"p{uuid.uuid4().hex[:6]}"
    ids = [rig.enqueue(ui_gateway, "work", "sync", payload={"tag": tag}) for _ in range(5)]
    for job_id in ids:
        wait_for(lambda j=job_id: rig.job_status(ui_gateway, j) == "succeeded", timeout=60)
    page = admin_page
    page.goto("/ui/jobs?plugin=work&command=sync&limit=2")
    seen: list[str] = []
    pages = 0
    while True:
        rows = _rows(page)
        assert 1 <= len(rows) <= 2
        seen.extend(r["id"] for r in rows)
        pages += 1
        following = page.get_by_role("link", name="Next page")
        if following.count() == 0:
            break
        following.click()
        page.wait_for_url("**cursor=*")
        assert page.get_by_role("link", name="First page").count() == 1
    assert len(seen) == len(set(seen))  # no job twice across pages
    assert set(ids) <= set(seen)
    assert pages >= 3


def test_bad_filter_values_are_explained_in_the_page(admin_page: Any) -> None:
    page = admin_page
    response = page.goto("/ui/jobs?limit=abc")
    assert response is not None and response.status == 400
    alert = page.get_by_role("alert").inner_text()
    assert "limit" in alert and "1..200" in alert
    response = page.goto("/ui/jobs?status=exploded")
    assert response is not None and response.status == 400
    assert "status" in page.get_by_role("alert").inner_text()
    response = page.goto("/ui/jobs?created_after=yesterday")
    assert "created_after" in page.get_by_role("alert").inner_text()
    response = page.goto("/ui/jobs?cursor=not-a-cursor")
    assert "cursor" in page.get_by_role("alert").inner_text()


def test_new_rows_appear_and_status_cells_change_live(admin_page: Any, ui_gateway: Any) -> None:
    page = admin_page
    page.goto("/ui/jobs?plugin=work&command=poll")
    page.wait_for_selector("#jobs-table")
    page.evaluate("window.__not_reloaded = true")
    job_id = rig.enqueue(ui_gateway, "work", payload={"sleep": 2})
    row = f'#jobs-table tr[data-job="{job_id}"]'
    page.wait_for_selector(row)
    page.wait_for_selector(f'{row} [data-status="succeeded"]', timeout=60_000)
    assert page.evaluate("window.__not_reloaded") is True


def test_jobs_page_has_no_serious_accessibility_violations(admin_page: Any, ui_gateway: Any) -> None:
    rig.enqueue(ui_gateway, "work")
    page = admin_page
    page.goto("/ui/jobs")
    page.wait_for_selector("#jobs-table")
    assert rig.axe_problems(page) == []
    page.goto("/ui/jobs?limit=0")
    assert rig.axe_problems(page) == []


def test_jobs_page_at_phone_width_has_no_horizontal_scroll(phone_page: Any) -> None:
    page = phone_page
    page.goto("/ui/jobs")
    page.wait_for_selector("#jobs-table")
    assert rig.no_horizontal_scroll(page)
