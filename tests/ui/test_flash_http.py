"""The notice after a dashboard action, over real HTTP: shown once on the job's page after the
redirect, then gone; a notice cookie not signed for this session is ignored (ui/flash.py)."""

from __future__ import annotations

import re
from typing import Any

import httpx
from conftest import wait_for

from ductile.ui import flash
from ui import rig


def _signed_in(gw: Any) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=gw.url, timeout=10)
    nonce = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/ui/login").text).group(1)
    assert client.post("/ui/login", data={"token": rig.TOKENS["admin"][0], "csrf_token": nonce}).status_code == 303
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)"', client.get("/ui").text).group(1)
    return client, csrf


def test_a_notice_is_shown_once_and_a_foreign_one_never(ui_gateway: Any) -> None:
    job = rig.enqueue(ui_gateway, "work")
    wait_for(lambda: rig.job_status(ui_gateway, job) == "succeeded", timeout=30, message="the job to finish")
    client, csrf = _signed_in(ui_gateway)
    try:
        done = client.post(f"/ui/jobs/{job}/cancel", data={"csrf_token": csrf})
        assert done.status_code == 303 and done.headers["location"] == f"/ui/jobs/{job}"
        cookie = next(v for k, v in done.headers.multi_items() if k == "set-cookie" and v.startswith(flash.COOKIE))
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie and "Max-Age=60" in cookie
        shown = client.get(f"/ui/jobs/{job}")
        assert shown.status_code == 200 and "Not cancelled:" in shown.text and 'role="alert"' in shown.text
        assert client.cookies.get(flash.COOKIE) is None  # the page that showed it cleared it
        assert "Not cancelled:" not in client.get(f"/ui/jobs/{job}").text  # once
        # a notice signed with anything but this session's CSRF token is not shown
        forged = [{"level": "error", "text": "Session expired: call +1 555 0100", "link": "", "link_text": ""}]
        client.cookies.set(flash.COOKIE, flash.encode(forged, "not-this-sessions-csrf"), path="/ui")
        assert "call +1 555" not in client.get(f"/ui/jobs/{job}").text
    finally:
        client.close()
