"""Dashboard sessions: the API token is posted once to the login form and exchanged for a random
session id in an `HttpOnly; SameSite=Strict; Path=/ui` cookie.

Why a server-side table rather than a signed cookie: logout and idle expiry must end a session
for real, and the token itself must never reach the browser again (not in a URL, not in storage a
page script could read). A session keeps only the token's SHA-256 digest and looks the principal
up again on every request, so a token removed from the config ends its sessions at the next click
and a changed scope list applies at once.

Every POST under `/ui` carries the session's CSRF token (form field `csrf_token` or header
`X-CSRF-Token`); the login form has its own pre-session CSRF cookie so nobody can log a victim in
with the attacker's token. Pure decisions (`SessionBook.get` with `now`) are separate from the
request edges (`ui_session`, `check_csrf`).

Where sessions live depends on the store: on SQLite (one node) in this process's memory
(`SessionBook`); on PostgreSQL in the database (`ui.shared_sessions.StoreSessionBook`), so every
node of a cluster serves them. Both answer the `Book` interface; `install` picks one.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qs, quote

from fastapi import Request
from fastapi.responses import Response

from ductile.api.auth import Principal

COOKIE = "ductile_ui"
LOGIN_COOKIE = "ductile_ui_login"  # pre-session CSRF for the login form only
COOKIE_PATH = "/ui"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
MAX_SESSIONS = 10_000  # oldest idle sessions go first past this; memory stays bounded
MAX_FORM_BYTES = 64 * 1024


class LoginRequired(Exception):
    """No valid session: the handler answers with a redirect to the login page."""

    def __init__(self, next_path: str = "/ui"):
        super().__init__(next_path)
        self.next_path = next_path


class ScopeMissing(Exception):
    """The session's token lacks `scope`: the handler answers 403 with a page naming it."""

    def __init__(self, scope: str, principal: Principal):
        super().__init__(scope)
        self.scope = scope
        self.principal = principal


class CsrfRefused(Exception):
    """A POST without the session's CSRF token (or from another origin): 403, nothing done."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class UiSession:
    id: str
    digest: bytes  # the token's SHA-256, never the token
    principal: Principal
    csrf: str
    created: float
    last_seen: float

    @classmethod
    def new(cls, digest: bytes, principal: Principal, now: float) -> UiSession:
        """A fresh session: random id and CSRF token, created and last seen `now`."""
        return cls(
            id=secrets.token_urlsafe(32),
            digest=digest,
            principal=principal,
            csrf=secrets.token_urlsafe(32),
            created=now,
            last_seen=now,
        )

    def allows(self, scope: str) -> bool:
        return self.principal.allows(scope)

    @property
    def name(self) -> str:
        return self.principal.name


class Book(Protocol):
    """Where sessions are kept. `now` is in the book's own clock (`clock()`): monotonic seconds
    in memory, wall-clock seconds in a shared database (nodes' monotonic clocks are unrelated)."""

    ttl: float

    def clock(self) -> float: ...

    def create(self, digest: bytes, principal: Principal, now: float) -> UiSession: ...

    def get(self, session_id: str | None, now: float, touch: bool = True) -> UiSession | None: ...

    def drop(self, session_id: str | None) -> None: ...


@dataclass
class SessionBook:
    """In-memory sessions of this gateway process (a restart logs everyone out, by design)."""

    ttl: float
    sessions: OrderedDict[str, UiSession] = field(default_factory=OrderedDict)

    def clock(self) -> float:
        return time.monotonic()

    def create(self, digest: bytes, principal: Principal, now: float) -> UiSession:
        session = UiSession.new(digest, principal, now)
        self.sessions[session.id] = session
        while len(self.sessions) > MAX_SESSIONS:
            self.sessions.popitem(last=False)
        return session

    def get(self, session_id: str | None, now: float, touch: bool = True) -> UiSession | None:
        """The live session with this id (touched unless `touch` is false); an idle-expired one
        is dropped and None."""
        if not session_id:
            return None
        session = self.sessions.get(session_id)
        if session is None:
            return None
        if now - session.last_seen > self.ttl:
            self.sessions.pop(session_id, None)
            return None
        if touch:
            session.last_seen = now
            self.sessions.move_to_end(session_id)
        return session

    def drop(self, session_id: str | None) -> None:
        if session_id:
            self.sessions.pop(session_id, None)


def book(request: Request) -> Book:
    return request.app.state.ui_sessions


async def off_loop(request: Request, fn: Any, /, *args: Any) -> Any:
    """`fn(*args)` (a book call) off the event loop when the store is PostgreSQL, where the book
    waits on the database; inline on SQLite, whose book is a dict (store/offload.py)."""
    from ductile.store.offload import off_loop as store_off_loop

    return await store_off_loop(getattr(request.app.state.gateway, "store", None), fn, *args)


def digest_of(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _current_path(request: Request) -> str:
    path = request.url.path
    return path + ("?" + request.url.query if request.url.query else "")


def ui_session(request: Request) -> UiSession:
    """FastAPI dependency: the request's session, or `LoginRequired` (a redirect to /ui/login).
    The principal is looked up again from the token digest, so a removed token logs out.
    A plain function: FastAPI runs it on its thread pool, so a shared book's query never blocks
    the event loop (as the pages' own store reads run)."""
    sessions = book(request)
    session = sessions.get(request.cookies.get(COOKIE), sessions.clock(), touch=not background(request))
    if session is None:
        raise LoginRequired(_current_path(request) if request.method == "GET" else "/ui")
    principal = request.app.state.tokens.by_digest(session.digest)
    if principal is None:
        sessions.drop(session.id)
        raise LoginRequired(_current_path(request) if request.method == "GET" else "/ui")
    session.principal = principal
    return session


def background(request: Request) -> bool:
    """A page's own live refresh (its script's fetches, its event stream): not a person's
    activity, so it does not keep an idle session alive; an open tab left alone still expires."""
    return request.headers.get("x-requested-with") == "fetch" or request.url.path == "/ui/events"


def require_scope(session: UiSession, scope: str) -> UiSession:
    """Raise `ScopeMissing` (a 403 page naming `scope`) unless the session's token grants it."""
    if not session.allows(scope):
        raise ScopeMissing(scope, session.principal)
    return session


def needs(scope: str) -> Any:
    """`Depends(needs("jobs:status:ro"))`: a session whose token has `scope`."""
    from fastapi import Depends

    def check(session: UiSession = Depends(ui_session)) -> UiSession:
        return require_scope(session, scope)

    check.__name__ = f"ui_needs_{scope.replace(':', '_')}"
    return check


def same_origin(request: Request) -> bool:
    """A browser POST names its origin; one from another site is refused even with a cookie
    (SameSite=Strict already withholds it, this is the second lock). No Origin header: allowed,
    the CSRF token still decides."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    host = request.headers.get("host", "")
    return origin in (f"http://{host}", f"https://{host}")


async def read_form(request: Request) -> dict[str, list[str]]:
    """An `application/x-www-form-urlencoded` body (the only kind our forms send), bounded."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    if ctype != "application/x-www-form-urlencoded" or not body:
        return {}
    if len(body) > MAX_FORM_BYTES:
        raise CsrfRefused(f"form body larger than {MAX_FORM_BYTES} bytes")
    try:
        return parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=200)
    except (UnicodeDecodeError, ValueError):
        return {}


async def check_csrf(request: Request, session: UiSession) -> dict[str, list[str]]:
    """Refuse a POST whose CSRF token (header or form field) is not this session's; returns the
    parsed form so handlers do not read the body twice."""
    if not same_origin(request):
        raise CsrfRefused(f"cross-origin request from {request.headers.get('origin')!r}")
    form = await read_form(request)
    sent = request.headers.get(CSRF_HEADER) or (form.get(CSRF_FIELD) or [""])[0]
    if not sent or not hmac.compare_digest(sent.encode(), session.csrf.encode()):
        raise CsrfRefused("missing or wrong CSRF token (reload the page and try again)")
    return form


def csrf_protected(session_dep: Any = ui_session) -> Any:
    """`Depends(csrf_protected())` on a POST: the session, after its CSRF token was checked.
    The parsed form is left on `request.state.form`."""
    from fastapi import Depends

    async def check(request: Request, session: UiSession = Depends(session_dep)) -> UiSession:
        request.state.form = await check_csrf(request, session)
        return session

    return check


def secure(request: Request) -> bool:
    return request.url.scheme == "https"


def set_session_cookie(response: Response, request: Request, session: UiSession) -> None:
    response.set_cookie(
        COOKIE, session.id, path=COOKIE_PATH, httponly=True, samesite="strict", secure=secure(request)
    )


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict", secure=secure(request))


def login_url(next_path: str) -> str:
    return "/ui/login?next=" + quote(safe_next(next_path), safe="/")


def safe_next(value: str | None) -> str:
    """Only a path inside the dashboard: never another host (`//evil`, `/\\evil`) or scheme."""
    if not value or not (value == "/ui" or value.startswith(("/ui/", "/ui?"))) or "\\" in value or "/.." in value:
        return "/ui"
    if len(value) > 2000 or any(ord(c) < 32 for c in value):
        return "/ui"
    return value
