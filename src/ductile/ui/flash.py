"""One-time notices after a dashboard action (post/redirect/get), carried by the browser.

The retry and cancel buttons POST, then redirect back to the job's page, which shows what happened
("Retried as a new job: …") once. Why the notice rides in a cookie and not in the server's memory:
behind a load balancer the redirect's GET may reach another node of the cluster, which never saw
the POST. Why it cannot be forged (a notice in the URL could be, by any link): the value is signed
with the session's CSRF token (HMAC-SHA256) — a secret only this session's own pages carry and
every node knows, since it is part of the session. A cookie from another session, a stale one or
one written by anything else fails the check and is ignored. Same attributes as the session
cookie (HttpOnly, SameSite=Strict, Path=/ui, Secure over https), gone after a minute or at the
page view that shows it. Links are only ever dashboard paths, and the page escapes the text.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from ductile.ui.auth import COOKIE_PATH, UiSession, secure

COOKIE = "ductile_ui_flash"
MAX_AGE = 60  # seconds: a notice is for the redirect that follows its action
MAX_MESSAGES = 3  # kept when actions pile up unseen (the newest); a cookie holds ~4 KB
MAX_TEXT = 300
LEVELS = frozenset({"ok", "info", "error"})


def _sign(key: str, payload: str) -> str:
    return hmac.new(key.encode(), payload.encode(), hashlib.sha256).hexdigest()


def encode(messages: list[dict[str, str]], key: str) -> str:
    """`payload.signature`: base64url JSON and its HMAC under `key` (cookie-safe characters only)."""
    raw = json.dumps(messages, separators=(",", ":"), ensure_ascii=False).encode()
    payload = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    return f"{payload}.{_sign(key, payload)}"


def decode(value: str | None, key: str) -> list[dict[str, str]]:
    """The notices in a cookie value signed with `key`; [] for anything else. Pure."""
    if not value or len(value) > 4096:
        return []
    payload, _, signature = value.rpartition(".")
    # bytes, not str: compare_digest refuses non-ASCII str, and a cookie is whatever the client sent
    if not payload or not hmac.compare_digest(signature.encode(), _sign(key, payload).encode()):
        return []
    try:
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, binascii.Error):
        return []
    return [m for m in data if _well_formed(m)] if isinstance(data, list) else []


def _well_formed(message: Any) -> bool:
    if not isinstance(message, dict) or set(message) != {"level", "text", "link", "link_text"}:
        return False
    if not all(isinstance(v, str) for v in message.values()) or message["level"] not in LEVELS:
        return False
    return message["link"] == "" or message["link"].startswith("/ui/")


def push(
    response: Response,
    request: Request,
    session: UiSession,
    level: str,
    text: str,
    link: str = "",
    link_text: str = "",
) -> None:
    """Add a notice for the session's next job page view (kept with any not yet shown)."""
    kept = decode(request.cookies.get(COOKIE), session.csrf)[-(MAX_MESSAGES - 1) :]
    kept.append({"level": level, "text": text[:MAX_TEXT], "link": link, "link_text": link_text[:MAX_TEXT]})
    response.set_cookie(
        COOKIE,
        encode(kept, session.csrf),
        max_age=MAX_AGE,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=secure(request),
    )


def take(request: Request, session: UiSession) -> list[dict[str, str]]:
    """The session's pending notices; `clear` the cookie on the page that shows them."""
    return decode(request.cookies.get(COOKIE), session.csrf)


def clear(response: Response, request: Request) -> None:
    if COOKIE in request.cookies:
        response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict", secure=secure(request))
