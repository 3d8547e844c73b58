"""`/ui`: the overview (placeholder until the run strips land)."""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse

from ductile.ui.auth import UiSession, needs
from ductile.ui.pages import page_router
from ductile.ui.render import page

router = page_router()


@router.get("", response_class=HTMLResponse)
async def overview(request: Request, session: UiSession = Depends(needs("jobs:status:ro"))) -> HTMLResponse:
    return page(request, session, "overview.html", title="Overview", active="/ui")
