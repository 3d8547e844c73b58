"""Rendering for the dashboard: one Jinja2 environment (autoescaped), one set of security headers.

Pages are server-rendered so the browser needs no build step and no token: every value is
escaped by the template engine, and the Content-Security-Policy allows only our own script and
stylesheet, so an injected `<script>` in a plugin's output could not run even if it slipped
through escaping.
"""

from __future__ import annotations

import gzip
import hashlib
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from ductile import __version__

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",  # no-referrer makes Chrome send `Origin: null` on form posts
    "Cache-Control": "no-store",
}

# (path, label, the scope the page needs): the nav shows every page; a page the token cannot
# read answers with a 403 naming the scope, so the nav never hides what exists.
NAV = [
    ("/ui", "Overview", "jobs:status:ro"),
    ("/ui/jobs", "Jobs", "jobs:status:ro"),
    ("/ui/pipelines", "Pipelines", "jobs:tree:ro"),
    ("/ui/plugins", "Plugins", "plugin:catalog:ro"),
]


@cache
def _static_version() -> str:
    """A digest of the static files, appended to their URLs so a new release is never served stale."""
    h = hashlib.sha256(__version__.encode())
    for path in sorted(STATIC.glob("*")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


def static_url(name: str) -> str:
    return f"/ui/static/{name}?v={_static_version()}"


def short_time(value: str | None) -> str:
    """`2026-11-29T10:00:00.123456Z` → `2026-11-29 10:00:00` (UTC); the full value goes in `datetime=`."""
    if not value:
        return ""
    return value.replace("T", " ")[:19]


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(["html"], default_for_string=True, default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["static_url"] = static_url
    env.globals["version"] = __version__
    env.filters["short_time"] = short_time
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


def page(
    request: Request,
    session: Any,
    template: str,
    *,
    title: str,
    status: int = 200,
    active: str | None = None,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """A full page inside base.html: `session` may be None (login page, errors before login)."""
    html = render(
        template,
        request=request,
        session=session,
        csrf=session.csrf if session is not None else None,
        user=session.name if session is not None else None,
        title=title,
        nav=NAV,
        active=active if active is not None else request.url.path,
        rendered_at=datetime.now().astimezone().isoformat(timespec="seconds"),
        **context,
    )
    return _respond(request, html, status, {**SECURITY_HEADERS, **(headers or {})})


def fragment(template: str, *, request: Request | None = None, status: int = 200, **context: Any) -> HTMLResponse:
    """A piece of a page (no base.html) that the page's script swaps in on live updates."""
    return _respond(request, render(template, **context), status, dict(SECURITY_HEADERS))


GZIP_ABOVE = 8 * 1024


def _respond(request: Request | None, html: str, status: int, headers: dict[str, str]) -> HTMLResponse:
    """HTML, gzipped when the browser accepts it and it is big: an overview of 200 schedules is
    about a megabyte of very repetitive markup, re-fetched as jobs run; compressed it is ~5 %.
    Only pages are compressed here: the JSON API's responses stay as they are."""
    accepts = request is not None and "gzip" in request.headers.get("accept-encoding", "").lower()
    body, encoding = encode(html, accepts)
    return HTMLResponse(body, status_code=status, headers={**headers, **encoding})


def encode(html: str, gzip_ok: bool) -> tuple[bytes, dict[str, str]]:
    """The body and its encoding headers: gzip when accepted and worth it."""
    body = html.encode()
    if gzip_ok and len(body) > GZIP_ABOVE:
        # a big page (the overview of 200 schedules is ~1 MB of HTML) at level 1: several times
        # faster than 5 for a little more on the wire (loopback or LAN, mostly)
        level = 1 if len(body) > 256_000 else 5
        return gzip.compress(body, compresslevel=level, mtime=0), {"Content-Encoding": "gzip", "Vary": "Accept-Encoding"}
    return body, {}
