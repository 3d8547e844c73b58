"""The web dashboard under `/ui`: login and logout, the session-authenticated event stream, the
static files, and the pages (each page is a module of `ductile.ui.pages` with a `router`).

`install(app)` is the one call `create_app` makes. Page modules are imported when present, so a
page added later is one new file (and, for the nav, one line in `render.NAV`). Every route here
is `include_in_schema=False`: the dashboard is for people, `/openapi.json` stays the API's
contract, and `GET /` lists API endpoints only (it links the dashboard under `discovery`).
"""

from __future__ import annotations

import importlib
import logging
import re
import threading
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles

from ductile.api.app import ApiError
from ductile.store import StoreError
from ductile.ui import auth
from ductile.ui.auth import CsrfRefused, LoginRequired, ScopeMissing, UiSession
from ductile.ui.render import SECURITY_HEADERS, STATIC, page
from ductile.ui.throttle import LoginThrottle

router = APIRouter(prefix="/ui", include_in_schema=False)
log = logging.getLogger(__name__)

# Page modules under ductile.ui.pages, included when they exist (later pages are new files).
PAGES = ("overview", "jobs", "job_detail", "pipelines", "plugins")
LOGIN_TTL = 30 * 60.0  # seconds the login form's pre-session CSRF value stays good


def _login_page(request: Request, *, error: str | None = None, status: int = 200, next_path: str = "/ui") -> Response:
    """The login form with a fresh pre-session CSRF value, set as a cookie and a hidden field."""
    nonce = auth.secrets.token_urlsafe(24)
    response = page(
        request,
        None,
        "login.html",
        title="Sign in",
        status=status,
        error=error,
        login_csrf=nonce,
        next_path=auth.safe_next(next_path),
    )
    response.set_cookie(
        auth.LOGIN_COOKIE,
        nonce,
        path=auth.COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=auth.secure(request),
        max_age=int(LOGIN_TTL),
    )
    return response


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, next: str = Query(default="/ui", max_length=2000)) -> Response:
    sessions = auth.book(request)
    session = await auth.off_loop(request, sessions.get, request.cookies.get(auth.COOKIE), sessions.clock())
    if session is not None:
        return RedirectResponse(auth.safe_next(next), status_code=303, headers=SECURITY_HEADERS)
    return _login_page(request, next_path=next)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    """Exchange the posted token for a session. A wrong token is a 401 page saying so; the token
    is never echoed back, logged or put in a redirect."""
    if not auth.same_origin(request):
        raise CsrfRefused(f"cross-origin login from {request.headers.get('origin')!r}")
    form = await auth.read_form(request)
    next_path = auth.safe_next((form.get("next") or ["/ui"])[0])
    sent = (form.get(auth.CSRF_FIELD) or [""])[0]
    expected = request.cookies.get(auth.LOGIN_COOKIE, "")
    if not sent or not expected or not auth.hmac.compare_digest(sent.encode(), expected.encode()):
        return _login_page(
            request,
            error="The sign-in form expired or came from another page; enter the token again.",
            status=403,
            next_path=next_path,
        )
    client = request.client.host if request.client is not None else "unknown"
    throttle: LoginThrottle = request.app.state.ui_login_throttle
    wait = await auth.off_loop(request, throttle.retry_after, client, throttle.clock())
    if wait is not None:
        refused = _login_page(
            request,
            error=f"Too many failed sign-ins from your address ({throttle.limit} within "
            f"{throttle.window:g} s). Wait {wait} s, then try again.",
            status=429,
            next_path=next_path,
        )
        refused.headers["Retry-After"] = str(wait)
        return refused
    token = (form.get("token") or [""])[0].strip()
    if not token:
        return _login_page(request, error="Enter an API token (from api.auth.tokens).", status=400, next_path=next_path)
    if len(token) > 512:
        return _login_page(request, error="That token is too long (at most 512 characters).", status=400)
    digest = auth.digest_of(token)
    principal = request.app.state.tokens.by_digest(digest)
    if principal is None:
        if await auth.off_loop(request, throttle.failed, client, throttle.clock()) is not None:
            log.warning("dashboard sign-ins refused for a while: too many failures", extra={"client": client})
        return _login_page(request, error="That token is not valid on this gateway.", status=401, next_path=next_path)
    await auth.off_loop(request, throttle.succeeded, client)
    sessions = auth.book(request)

    def renew() -> UiSession:
        sessions.drop(request.cookies.get(auth.COOKIE))  # a new id on every login (no session fixation)
        return sessions.create(digest, principal, sessions.clock())

    session = await auth.off_loop(request, renew)
    response = RedirectResponse(next_path, status_code=303, headers=SECURITY_HEADERS)
    auth.set_session_cookie(response, request, session)
    response.delete_cookie(auth.LOGIN_COOKIE, path=auth.COOKIE_PATH)
    return response


@router.post("/logout")
async def logout(request: Request, session: UiSession = Depends(auth.csrf_protected())) -> Response:
    await auth.off_loop(request, auth.book(request).drop, session.id)
    response = RedirectResponse("/ui/login", status_code=303, headers=SECURITY_HEADERS)
    auth.clear_session_cookie(response, request)
    return response


@router.get("/events")
async def ui_events(
    request: Request,
    session: UiSession = Depends(auth.needs("events:ro")),
    last_event_id: str | None = Header(default=None, alias="Last-Event-ID"),
    types: str | None = Query(default=None, max_length=500),
) -> StreamingResponse:
    """`GET /events` for the page, authenticated by the session cookie: the same stream code, so
    the same replay, redaction and result hiding (`jobs:result:ro`) apply."""
    from ductile.api.routers import events

    gw = request.app.state.gateway
    try:
        last_id = events._parse_last_id(last_event_id, None)
    except ApiError:
        last_id = None  # a garbled id from the browser: start from now, the page refetches anyway
    prefixes = tuple(p.strip() for p in (types or "").split(",") if p.strip())

    def stopping() -> bool:
        server = getattr(gw, "api_server", None)
        return bool(server is not None and server.should_exit)

    body = events.stream(
        gw.hub,
        last_id,
        boot=gw.started_at,
        prefixes=prefixes,
        heartbeat=events.heartbeat_interval(),
        stopping=stopping,
        hide_results=not session.allows("jobs:result:ro"),
    )
    return StreamingResponse(
        as_messages(body),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "X-Content-Type-Options": "nosniff"},
    )


_EVENT_LINE = re.compile(rb"(^|\n)event: (?!stream\.)[^\n]*\n")


async def as_messages(body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Hub events as plain `message` events (their JSON carries `type`): a browser EventSource has
    no wildcard listener, and the page should not need a list of every event type. Control frames
    (`stream.open`, `stream.gap`, `stream.lagged`) keep their names."""
    async for chunk in body:
        yield _EVENT_LINE.sub(rb"\1", chunk)


async def _login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    if request.headers.get("x-requested-with") == "fetch" or request.url.path == "/ui/events":
        # a script's fetch: a redirect would swap the login page into a table; say so plainly
        return Response("session expired; reload the page to sign in", status_code=401, headers=SECURITY_HEADERS)
    return RedirectResponse(auth.login_url(exc.next_path), status_code=303, headers=SECURITY_HEADERS)


async def _scope_missing(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ScopeMissing)
    session = await _session_or_none(request)
    return page(
        request,
        session,
        "forbidden.html",
        title="Not allowed",
        status=403,
        scope=exc.scope,
        token_name=exc.principal.name,
        granted=sorted(exc.principal.scopes),
    )


async def _csrf_refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CsrfRefused)
    return page(
        request,
        await _session_or_none(request),
        "error.html",
        title="Refused",
        status=403,
        message=f"Refused: {exc.reason}.",
    )


async def _session_or_none(request: Request) -> UiSession | None:
    """The session for an error page's header, if there is one; an unreachable store only costs
    the header (the error page itself still answers)."""
    sessions = auth.book(request)
    try:
        return await auth.off_loop(request, sessions.get, request.cookies.get(auth.COOKIE), sessions.clock())
    except StoreError:
        return None


def install(app: FastAPI) -> None:
    """Serve the dashboard on `app` when `api.ui.enabled` (the default)."""
    config = app.state.gateway.config.api.ui
    if not config.enabled:
        return
    gateway = app.state.gateway
    app.state.ui_sessions = _book(app, config.session_ttl)
    app.state.ui_login_throttle = _throttle(app)
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(ScopeMissing, _scope_missing)
    app.add_exception_handler(CsrfRefused, _csrf_refused)
    app.include_router(router)
    warmers: list[Any] = []
    for name in PAGES:
        module: Any
        try:
            module = importlib.import_module(f"ductile.ui.pages.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"ductile.ui.pages.{name}":
                raise
            continue
        app.include_router(module.router)
        if hasattr(module, "warm"):
            warmers.append(module.warm)
    app.mount("/ui/static", StaticFiles(directory=str(STATIC)), name="ui-static")
    # Off the event loop, once: the first visitor after a start then finds the data, templates
    # and caches ready instead of paying for all of them (pages define `warm(gateway)`).
    threading.Thread(target=_warm, args=(warmers, gateway), name="ui-warm", daemon=True).start()


def _throttle(app: FastAPI) -> Any:
    """Failed sign-ins counted in this process on SQLite (one node), in the database on
    PostgreSQL so the limit holds however a balancer spreads the attempts (ui/shared_throttle.py)."""
    gateway = app.state.gateway
    if not gateway.config.database.postgres:
        return LoginThrottle()
    from ductile.ui.shared_throttle import StoreLoginThrottle

    return StoreLoginThrottle(store=lambda: gateway.store)


def _book(app: FastAPI, ttl: float) -> auth.Book:
    """Sessions in this process's memory on SQLite (one node), in the database on PostgreSQL so
    every node of the cluster serves them (ui/shared_sessions.py)."""
    gateway = app.state.gateway
    if not gateway.config.database.postgres:
        return auth.SessionBook(ttl=ttl)
    from ductile.ui.shared_sessions import StoreSessionBook

    return StoreSessionBook(
        ttl=ttl,
        store=lambda: gateway.store,
        principal_of=lambda digest: app.state.tokens.by_digest(digest),
    )


def _warm(warmers: list[Any], gateway: Any) -> None:
    for warm in warmers:
        try:
            warm(gateway)
        except Exception:  # best effort: a page that cannot warm still renders on demand
            log.debug("dashboard warm-up failed", exc_info=True)
