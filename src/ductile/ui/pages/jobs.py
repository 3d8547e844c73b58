"""`/ui/jobs`: the job list (placeholder until the filters land)."""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse

from ductile.ui.auth import UiSession, needs
from ductile.ui.pages import page_router
from ductile.ui.render import page

router = page_router()


@router.get("/jobs", response_class=HTMLResponse)
async def jobs(request: Request, session: UiSession = Depends(needs("jobs:status:ro"))) -> HTMLResponse:
    return page(request, session, "error.html", title="Jobs", message="The job list is coming.")
