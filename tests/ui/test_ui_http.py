"""The dashboard's HTTP edges without a browser: switched off by config, hostile inputs to the
login form and the pages (never a 500, never a session), and bearer tokens vs. session cookies
staying in their own lanes."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from conftest import ADMIN_TOKEN, base_config, free_port

from ui import rig


def test_ui_disabled_serves_nothing_and_is_not_advertised(gateway_factory: Any) -> None:
    config = base_config([], {}, port=free_port())
    config["api"]["ui"] = {"enabled": False}
    gw = gateway_factory(config)
    for path in ("/ui", "/ui/login", "/ui/events", "/ui/static/ui.css"):
        assert httpx.get(f"{gw.url}{path}", timeout=10).status_code == 404, path
    assert "dashboard" not in httpx.get(f"{gw.url}/", timeout=10).json()["discovery"]


def _login_nonce(client: httpx.Client) -> str:
    page = client.get("/ui/login")
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


@pytest.mark.parametrize(
    ("body", "ctype", "status"),
    [
        (b"token=" + b"x" * 600, "application/x-www-form-urlencoded", 400),  # too long: said so
        (b"token=", "application/x-www-form-urlencoded", 400),
        (b'{"token": "' + ADMIN_TOKEN.encode() + b'"}', "application/json", 403),  # not a form: no CSRF value
        (b"token=%ff%fe", "application/x-www-form-urlencoded", 401),
        (b"x" * 200_000, "application/x-www-form-urlencoded", 403),
    ],
    ids=["long-token", "empty", "json", "bad-utf8", "huge"],
)
def test_hostile_login_posts_are_refused_cleanly(ui_gateway: Any, body: bytes, ctype: str, status: int) -> None:
    with httpx.Client(base_url=ui_gateway.url, timeout=10) as client:
        nonce = _login_nonce(client)
        if ctype.startswith("application/x-www") and len(body) < 100_000:
            body = body + b"&csrf_token=" + nonce.encode()
        response = client.post("/ui/login", content=body, headers={"Content-Type": ctype})
        assert response.status_code == status, response.text[:300]
        assert "ductile_ui" not in client.cookies or client.cookies.get("ductile_ui") is None
        assert ADMIN_TOKEN not in response.text


def test_login_never_redirects_off_the_dashboard(ui_gateway: Any) -> None:
    with httpx.Client(base_url=ui_gateway.url, timeout=10) as client:
        nonce = _login_nonce(client)
        response = client.post(
            "/ui/login",
            data={"token": ADMIN_TOKEN, "csrf_token": nonce, "next": "//evil.example/ui"},
        )
        assert response.status_code == 303 and response.headers["location"] == "/ui"


def test_bearer_tokens_do_not_open_pages_and_cookies_do_not_open_the_api(ui_gateway: Any) -> None:
    bearer = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    page = httpx.get(f"{ui_gateway.url}/ui/jobs", headers=bearer, follow_redirects=False, timeout=10)
    assert page.status_code == 303 and page.headers["location"].startswith("/ui/login")
    with httpx.Client(base_url=ui_gateway.url, timeout=10) as client:
        nonce = _login_nonce(client)
        client.post("/ui/login", data={"token": ADMIN_TOKEN, "csrf_token": nonce})
        assert client.get("/ui/jobs").status_code == 200
        cookie = client.cookies.get("ductile_ui")
    api = httpx.get(f"{ui_gateway.url}/jobs", cookies={"ductile_ui": cookie}, timeout=10)
    assert api.status_code == 401


def test_pages_send_the_security_headers(ui_gateway: Any) -> None:
    response = httpx.get(f"{ui_gateway.url}/ui/login", timeout=10)
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    "query",
    ["limit=-1", "limit=NaN", "status=' OR '1'='1", "cursor=%00", "created_before=2026-13-45T99:99", "plugin=" + "x" * 300],
)
def test_hostile_filters_are_400_pages_not_500s(ui_gateway: Any, query: str) -> None:
    with httpx.Client(base_url=ui_gateway.url, timeout=10) as client:
        nonce = _login_nonce(client)
        client.post("/ui/login", data={"token": rig.TOKENS["viewer"][0], "csrf_token": nonce})
        response = client.get(f"/ui/jobs?{query}")
        assert response.status_code == 400, response.text[:300]
        assert 'role="alert"' in response.text
        assert client.get(f"/ui/fragment/jobs?{query}").status_code == 400


def test_session_cookie_is_secure_when_the_request_came_over_https(ui_gateway: Any) -> None:
    """Behind a TLS-terminating proxy on loopback (uvicorn trusts its X-Forwarded-Proto)."""
    https = {"X-Forwarded-Proto": "https"}
    form = httpx.get(f"{ui_gateway.url}/ui/login", headers=https, timeout=10)
    nonce = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    login_cookie = form.headers["set-cookie"]
    assert "Secure" in login_cookie  # so an http client keeps it to itself: send it by hand
    response = httpx.post(
        f"{ui_gateway.url}/ui/login",
        headers={**https, "Cookie": f"ductile_ui_login={login_cookie.split(';')[0].split('=', 1)[1]}"},
        data={"token": ADMIN_TOKEN, "csrf_token": nonce},
        timeout=10,
    )
    assert response.status_code == 303, response.text[:300]
    cookie = next(v for k, v in response.headers.multi_items() if k == "set-cookie" and v.startswith("ductile_ui="))
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
