"""The overview: one card per schedule with its health and a run strip of its last slots,
queue figures, live updates while jobs run (real gateway, real schedules, real Chromium)."""

from __future__ import annotations

from typing import Any

from ui import rig

TICK = '[data-schedule="ticker/tick"]'
BOOM = '[data-schedule="broken/boom"]'


def _strip(page: Any, card: str) -> list[str]:
    return page.locator(f"{card} .strip li").evaluate_all("cells => cells.map(c => c.getAttribute('title'))")


def test_schedules_show_health_and_a_run_strip_with_text_alternatives(admin_page: Any) -> None:
    page = admin_page
    page.goto("/ui")
    # the fast schedule's strip fills with succeeded cells; the failing one's with failed cells
    page.wait_for_selector(f'{TICK} .strip li[data-state="succeeded"]')
    page.wait_for_selector(f'{BOOM} .strip li[data-state="failed"]')
    tick = page.locator(TICK)
    assert "ticker / tick" in tick.get_by_role("heading").inner_text()
    assert tick.locator("[data-health]").inner_text() in ("ok", "late", "stale", "failing")
    assert "every 1s" in tick.inner_text()
    # every cell says when and what in text (title and a visually hidden label), not colour alone
    pairs = tick.locator(".strip li").evaluate_all(
        "cells => cells.map(c => [c.getAttribute('title'), c.querySelector('.visually-hidden').textContent])"
    )
    assert pairs
    for title, hidden in pairs:
        assert title and " UTC: " in title and hidden == title
    labels = [c for c in _strip(page, BOOM) if c]
    assert any(label.endswith(": failed") for label in labels), labels
    strip_name = page.locator(f"{TICK} .strip").get_attribute("aria-label")
    assert strip_name and "oldest first" in strip_name
    # the queue figures
    assert page.locator("#fig-queue").inner_text().isdigit()
    assert "/" in page.locator("#fig-workers").inner_text()


def test_run_strip_changes_as_jobs_run_without_reload(admin_page: Any) -> None:
    page = admin_page
    page.goto("/ui")
    page.wait_for_selector(f"{TICK} .strip li")
    page.evaluate("window.__not_reloaded = true")
    before = _strip(page, TICK)
    # new slots pass every second and their jobs finish: the live region is re-fetched on events
    page.wait_for_function(
        """([sel, before]) => {
            const now = Array.from(document.querySelectorAll(sel + ' .strip li')).map(c => c.getAttribute('title'));
            return JSON.stringify(now) !== JSON.stringify(before);
        }""",
        arg=[TICK, before],
    )
    assert page.evaluate("window.__not_reloaded") is True
    after = _strip(page, TICK)
    assert after[-1] != before[-1]  # the newest slot moved on


def test_the_failing_schedule_is_judged_failing(admin_page: Any) -> None:
    page = admin_page
    page.goto("/ui")
    page.wait_for_selector(f'{BOOM} [data-health="failing"]')
    assert "failed" in page.locator(f"{BOOM} .health").inner_text()


def test_overview_has_no_serious_accessibility_violations(admin_page: Any) -> None:
    page = admin_page
    page.goto("/ui")
    page.wait_for_selector(f"{TICK} .strip li")
    assert rig.axe_problems(page) == []


def test_overview_at_phone_width_has_no_horizontal_scroll(phone_page: Any) -> None:
    page = phone_page
    page.goto("/ui")
    page.wait_for_selector(f"{TICK} .strip li")
    assert rig.no_horizontal_scroll(page)
    assert page.get_by_role("navigation", name="Main").is_visible()


def test_overview_in_dark_mode_has_no_serious_accessibility_violations(login_as: Any) -> None:
    page = login_as("admin", color_scheme="dark")
    page.goto("/ui")
    page.wait_for_selector(f"{TICK} .strip li")
    assert rig.axe_problems(page) == []


def test_a_token_without_job_scopes_is_refused_the_overview_and_told_why(login_as: Any) -> None:
    page = login_as("catalog")  # plugin:ro only
    response = page.goto("/ui")
    assert response is not None and response.status == 403
    alert = page.get_by_role("alert").inner_text()
    assert "jobs:status:ro" in alert and "catalog" in alert
    assert page.get_by_role("button", name="Sign out").is_visible()  # still signed in, just not allowed
