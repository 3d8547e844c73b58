"""`/ui`: every schedule with its health and run strip, and the queue figures; the live part is
`/ui/fragment/overview`, re-fetched by the page when job or scheduler events arrive."""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse

from ductile.timeutil import utcnow
from ductile.ui import overview_data
from ductile.ui.auth import UiSession, needs
from ductile.ui.pages import page_router
from ductile.ui.render import fragment, page
from ductile.ui.strip import LABELS, MARKS

router = page_router()
# Plain `def` handlers: FastAPI runs them in its threadpool, so computing 200 schedules' strips
# (hundreds of indexed reads) never holds the event loop the dispatcher and the API share.
LEGEND = [(state, MARKS[state], LABELS[state]) for state in MARKS]


def _context(request: Request, session: UiSession) -> dict:
    data = overview_data.overview(request.app.state.gateway, utcnow())
    return {**data, "show_errors": session.allows("jobs:result:ro"), "legend": LEGEND}


@router.get("", response_class=HTMLResponse)
def overview(request: Request, session: UiSession = Depends(needs("jobs:status:ro"))) -> HTMLResponse:
    return page(request, session, "overview.html", title="Overview", active="/ui", **_context(request, session))


@router.get("/fragment/overview", response_class=HTMLResponse)
def overview_fragment(request: Request, session: UiSession = Depends(needs("jobs:status:ro"))) -> HTMLResponse:
    return fragment("overview_live.html", **_context(request, session))
