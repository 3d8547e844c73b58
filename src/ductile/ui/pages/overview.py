"""`/ui`: every schedule with its health and run strip, and the queue figures; the live part is
`/ui/fragment/overview`, re-fetched by the page when job or scheduler events arrive."""

from __future__ import annotations

import threading
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from ductile.timeutil import utcnow
from ductile.ui import overview_data
from ductile.ui.auth import UiSession, needs
from ductile.ui.pages import page_router
from ductile.ui.render import SECURITY_HEADERS, encode, page, render
from ductile.ui.strip import LABELS, MARKS, strip_html

router = page_router()
# Plain `def` handlers: FastAPI runs them in its threadpool, so computing 200 schedules' strips
# (hundreds of indexed reads) never holds the event loop the dispatcher and the API share.
LEGEND = [(state, MARKS[state], LABELS[state]) for state in MARKS]

# The live part holds nothing per session but whether errors may be shown: while the shared data
# is the same, every open dashboard gets the same HTML (and bytes), rendered and compressed once.
_rendered: dict[tuple[int, bool], str] = {}
_encoded: dict[tuple[int, bool, bool], tuple[bytes, dict[str, str]]] = {}
_rendered_lock = threading.Lock()


def _live(data: dict[str, Any], session: UiSession) -> tuple[tuple[int, bool], str]:
    return _live_for(data, session.allows("jobs:result:ro"))


def _live_for(data: dict[str, Any], show_errors: bool) -> tuple[tuple[int, bool], str]:
    key = (data["generation"], show_errors)
    with _rendered_lock:
        html = _rendered.get(key)
        if html is None:
            if not any(k[0] == key[0] for k in _rendered):
                _rendered.clear()  # new data: the old renderings are stale
                _encoded.clear()
            html = render("overview_live.html", **data, show_errors=key[1], strip_html=strip_html)
            _rendered[key] = html
    return key, html


@router.get("", response_class=HTMLResponse)
def overview(request: Request, session: UiSession = Depends(needs("jobs:status:ro"))) -> HTMLResponse:
    data, computed = overview_data.shared(request.app.state.gateway, utcnow())
    _, live = _live(data, session)
    # how long gathering the data took, and whether this request did it (bench/dashboard.py)
    timing = {"Server-Timing": f'data;dur={data["took_ms"]};desc="{"computed" if computed else "shared"}"'}
    return page(
        request,
        session,
        "overview.html",
        title="Overview",
        active="/ui",
        headers=timing,
        now=data["now"],
        legend=LEGEND,
        live=Markup(live),
    )


@router.get("/fragment/overview", response_class=HTMLResponse)
def overview_fragment(request: Request, session: UiSession = Depends(needs("jobs:status:ro"))) -> HTMLResponse:
    data = overview_data.overview(request.app.state.gateway, utcnow())
    key, live = _live(data, session)
    gzip_ok = "gzip" in request.headers.get("accept-encoding", "").lower()
    with _rendered_lock:
        found = _encoded.get((*key, gzip_ok))
        if found is None:
            found = _encoded[(*key, gzip_ok)] = encode(live, gzip_ok)
    body, encoding = found
    return HTMLResponse(body, headers={**SECURITY_HEADERS, **encoding})


def warm(gateway: Any) -> None:
    """Compute the overview once at start (router.install calls this off the event loop): the
    store's pages, the cron grids, the cell HTML and the template are then warm, and a visitor
    within the sharing window gets this very rendering."""
    data, _ = overview_data.shared(gateway, utcnow())
    for show_errors in (False, True):
        _live_for(data, show_errors)
