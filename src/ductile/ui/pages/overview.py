"""`/ui`: every schedule with its health and run strip, and the queue figures; the live part is
`/ui/fragment/overview`, re-fetched by the page when job or scheduler events arrive."""

from __future__ import annotations

import threading
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse

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

# The live fragment holds nothing per session but whether errors may be shown: while the shared
# data is the same, every open dashboard gets the same bytes, rendered and compressed once.
_rendered: dict[tuple[int, bool, bool], tuple[bytes, dict[str, str]]] = {}
_rendered_lock = threading.Lock()


def _context(data: dict[str, Any], session: UiSession) -> dict[str, Any]:
    return {**data, "show_errors": session.allows("jobs:result:ro"), "legend": LEGEND, "strip_html": strip_html}


@router.get("", response_class=HTMLResponse)
def overview(request: Request, session: UiSession = Depends(needs("jobs:status:ro"))) -> HTMLResponse:
    data = overview_data.overview(request.app.state.gateway, utcnow())
    return page(request, session, "overview.html", title="Overview", active="/ui", **_context(data, session))


@router.get("/fragment/overview", response_class=HTMLResponse)
def overview_fragment(request: Request, session: UiSession = Depends(needs("jobs:status:ro"))) -> HTMLResponse:
    data = overview_data.overview(request.app.state.gateway, utcnow())
    gzip_ok = "gzip" in request.headers.get("accept-encoding", "").lower()
    key = (data["generation"], session.allows("jobs:result:ro"), gzip_ok)
    with _rendered_lock:
        found = _rendered.get(key)
        if found is None:
            html = render("overview_live.html", **_context(data, session))
            found = encode(html, gzip_ok)
            if not any(k[0] == data["generation"] for k in _rendered):
                _rendered.clear()  # new data: the old renderings are stale
            _rendered[key] = found
    body, encoding = found
    return HTMLResponse(body, headers={**SECURITY_HEADERS, **encoding})
