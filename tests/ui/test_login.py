"""Signing in to the dashboard: the token is posted once, a session cookie (HttpOnly,
SameSite=Strict, Path=/ui) stands in for it, logout ends the session, and a POST without the
session's CSRF token is refused. Real gateway, real Chromium."""

from __future__ import annotations

from typing import Any

import httpx

from ui import rig


def _session_cookie(context: Any) -> dict[str, Any]:
    [cookie] = [c for c in context.cookies() if c["name"] == "ductile_ui"]
    return cookie


def test_good_token_signs_in_with_a_strict_httponly_cookie(admin_page: Any, ui_gateway: Any) -> None:
    page = admin_page
    assert page.url.rstrip("/").endswith("/ui")
    assert page.get_by_role("navigation", name="Main").is_visible()
    assert page.get_by_role("button", name="Sign out").is_visible()
    cookie = _session_cookie(page.context)
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/ui"
    assert cookie["secure"] is False  # plain http on loopback; https requests get Secure
    # the token is nowhere a page script or the address bar could see it
    token = rig.TOKENS["admin"][0]
    assert token not in page.url
    assert token not in page.content()
    assert page.evaluate("document.cookie") == ""  # HttpOnly: invisible to scripts
    meta = page.locator('meta[name="csrf-token"]').get_attribute("content")
    assert meta and meta != cookie["value"]


def test_bad_token_shows_an_error_and_sets_no_session(ui_page: Any, ui_gateway: Any) -> None:
    page = ui_page
    page.goto("/ui/login")
    page.get_by_label("API token").fill("not-a-real-token-123456")
    page.get_by_role("button", name="Sign in").click()
    alert = page.get_by_role("alert")
    assert "not valid" in alert.inner_text()
    assert "/ui/login" in page.url
    assert not [c for c in page.context.cookies() if c["name"] == "ductile_ui"]
    # still signed out: the overview sends us back to the form
    page.goto("/ui")
    assert "/ui/login" in page.url


def test_unauthenticated_page_redirects_to_login_and_back(ui_page: Any, ui_gateway: Any) -> None:
    page = ui_page
    page.goto("/ui/jobs?status=failed")
    assert "/ui/login" in page.url
    page.get_by_label("API token").fill(rig.TOKENS["admin"][0])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/ui/jobs?status=failed")


def test_logout_ends_the_session_on_the_server(admin_page: Any, ui_gateway: Any) -> None:
    page = admin_page
    old = _session_cookie(page.context)["value"]
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/ui/login")
    page.goto("/ui")
    assert "/ui/login" in page.url
    # the old id is dead on the server, not just forgotten by this browser
    response = httpx.get(f"{ui_gateway.url}/ui", cookies={"ductile_ui": old}, follow_redirects=False, timeout=10)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/ui/login")


def test_post_without_csrf_token_is_refused(admin_page: Any, ui_gateway: Any) -> None:
    page = admin_page
    session = _session_cookie(page.context)["value"]
    csrf = page.locator('meta[name="csrf-token"]').get_attribute("content")
    # from the page itself (same origin, cookie sent): no token → 403, and still signed in
    status = page.evaluate("fetch('/ui/logout', {method: 'POST', credentials: 'same-origin'}).then(r => r.status)")
    assert status == 403
    page.goto("/ui")
    assert "/ui/login" not in page.url
    # a wrong token is refused the same way; the right one (header) works
    wrong = httpx.post(
        f"{ui_gateway.url}/ui/logout", cookies={"ductile_ui": session}, headers={"X-CSRF-Token": "x" * 43}, timeout=10
    )
    assert wrong.status_code == 403 and "CSRF" in wrong.text
    ok = httpx.post(
        f"{ui_gateway.url}/ui/logout", cookies={"ductile_ui": session}, headers={"X-CSRF-Token": csrf}, timeout=10
    )
    assert ok.status_code == 303


def test_cross_origin_post_is_refused_even_with_the_token(admin_page: Any, ui_gateway: Any) -> None:
    session = _session_cookie(admin_page.context)["value"]
    csrf = admin_page.locator('meta[name="csrf-token"]').get_attribute("content")
    response = httpx.post(
        f"{ui_gateway.url}/ui/logout",
        cookies={"ductile_ui": session},
        headers={"X-CSRF-Token": csrf, "Origin": "http://evil.example"},
        timeout=10,
    )
    assert response.status_code == 403 and "cross-origin" in response.text


def test_login_form_needs_its_own_csrf_value(ui_gateway: Any) -> None:
    """Login CSRF: a form posted from elsewhere (no pre-session cookie) signs nobody in."""
    response = httpx.post(
        f"{ui_gateway.url}/ui/login", data={"token": rig.TOKENS["admin"][0], "csrf_token": "guess"}, timeout=10
    )
    assert response.status_code == 403
    assert "ductile_ui=" not in response.headers.get("set-cookie", "").replace("ductile_ui_login=", "")


def test_scope_missing_page_names_the_scope(login_as: Any) -> None:
    page = login_as("blind")
    response = page.goto("/ui/events")
    assert response is not None and response.status == 403
    assert "events:ro" in page.get_by_role("alert").inner_text()


def test_ui_events_streams_for_a_session(admin_page: Any, ui_gateway: Any) -> None:
    """/ui/events with the session cookie: the hub's stream, hub events as plain messages."""
    session = _session_cookie(admin_page.context)["value"]
    with httpx.stream("GET", f"{ui_gateway.url}/ui/events", cookies={"ductile_ui": session}, timeout=15) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        job_id = rig.enqueue(ui_gateway, "work")
        seen = ""
        for line in response.iter_lines():
            seen += line + "\n"
            if job_id in line:
                break
    assert "event: stream.open" in seen
    assert '"type":"job.' in seen
    without = httpx.get(f"{ui_gateway.url}/ui/events", follow_redirects=False, timeout=10)
    assert without.status_code == 401


def test_an_idle_session_expires_even_with_the_page_open(browser: Any, tmp_path: Any) -> None:
    """api.ui.session_ttl: live refreshes are not activity, so an open, untouched overview
    ends up signed out; the page says so and a reload goes to the sign-in form."""
    gw = rig.start_ui_gateway(tmp_path, api={"ui": {"session_ttl": "3s"}})
    try:
        context = browser.new_context(base_url=gw.url)
        context.set_default_timeout(30_000)
        page = rig.login(context.new_page(), gw)
        page.wait_for_selector('[data-schedule="ticker/tick"] .strip li')
        status = page.locator("#live-status")
        page.wait_for_function("() => document.getElementById('live-status').textContent.includes('session has ended')")
        assert "reload" in status.inner_text()
        page.reload()
        assert "/ui/login" in page.url
        context.close()
    finally:
        gw.stop()
