"""`/ui/jobs/{job_id}`: one job — attempts with logs and stderr, result, transitions, emitted
events, its pipeline tree — and the retry and cancel buttons.

The buttons are drawn only for tokens with `jobs:rw`, and the POST routes check that scope
themselves (plus the session's CSRF token), so a read-only token posting anyway gets the 403 page.
They call the very functions behind `POST /job/{id}/retry` and `POST /job/{id}/cancel`, then
redirect back (post/redirect/get) with a one-time notice in a cookie signed with the session's
CSRF token (`ui/flash.py`): any node of a cluster can show it, and a link cannot forge it.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ductile.api.app import ApiError
from ductile.api.routers.actions import retry_one_off_loop
from ductile.api.routers.jobs import cancel_one
from ductile.ui import flash, job_view
from ductile.ui.auth import UiSession, csrf_protected, needs
from ductile.ui.pages import page_router
from ductile.ui.render import SECURITY_HEADERS, fragment, page

router = page_router()
READ_SCOPE = "jobs:status:ro"
ACT_SCOPE = "jobs:rw"


def _context(request: Request, session: UiSession, job_id: str) -> dict[str, Any] | None:
    view = job_view.gather(request.app.state.gateway.store, job_id, session.principal)
    if view is None:
        return None
    return {
        **view,
        "may_act": session.allows(ACT_SCOPE),
        "may_stream": session.allows("events:ro"),
        "may_logs": session.allows("jobs:logs:ro"),
        "may_tree": session.allows("jobs:tree:ro"),
    }


def _not_found(request: Request, session: UiSession, job_id: str) -> HTMLResponse:
    return page(
        request,
        session,
        "error.html",
        title="No such job",
        status=404,
        active="/ui/jobs",
        message=f"There is no job with id {job_id[:80]!r} (it may have been pruned).",
    )


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
async def job_page(job_id: str, request: Request, session: UiSession = Depends(needs(READ_SCOPE))) -> HTMLResponse:
    context = _context(request, session, job_id)
    if context is None:
        return _not_found(request, session, job_id)
    short = context["job"]["job_id"][:8]
    response = page(
        request,
        session,
        "job_detail.html",
        title=f"Job {short}",
        active="/ui/jobs",
        flash=flash.take(request, session),
        **context,
    )
    flash.clear(response, request)
    return response


@router.get("/jobs/{job_id}/live", response_class=HTMLResponse)
async def job_live(job_id: str, request: Request, session: UiSession = Depends(needs(READ_SCOPE))) -> HTMLResponse:
    """The page's body without the frame: the script swaps it in when one of its jobs changes."""
    context = _context(request, session, job_id)
    if context is None:
        return fragment("job_detail_gone.html", status=404, job_id=job_id)
    return fragment("job_detail_body.html", csrf=session.csrf, **context)


def _back(request: Request, session: UiSession, job_id: str, *notice: str) -> Response:
    """303 back to the job's page, which shows `notice` (level, text[, link, link text]) once."""
    response = RedirectResponse(f"/ui/jobs/{job_id}", status_code=303, headers=SECURITY_HEADERS)
    flash.push(response, request, session, *notice)
    return response


@router.post("/jobs/{job_id}/retry")
async def retry(
    job_id: str, request: Request, session: UiSession = Depends(csrf_protected(needs(ACT_SCOPE)))
) -> Response:
    gw = request.app.state.gateway
    try:
        body = await retry_one_off_loop(gw, job_id, submitted_by="ui")
    except ApiError as exc:
        if exc.status == 404:
            return _not_found(request, session, job_id)
        return _back(request, session, job_id, "error", f"Not retried: {exc.message}.")
    new = body["job_id"]
    if body["duplicate"]:
        return _back(
            request, session, job_id, "info", "A retry of this job is already under way:", f"/ui/jobs/{new}", new
        )
    return _back(request, session, job_id, "ok", "Retried as a new job:", f"/ui/jobs/{new}", new)


@router.post("/jobs/{job_id}/cancel")
async def cancel(
    job_id: str, request: Request, session: UiSession = Depends(csrf_protected(needs(ACT_SCOPE)))
) -> Response:
    gw = request.app.state.gateway
    try:
        after = await cancel_one(gw, job_id, f"cancelled from the dashboard by {session.name}")
    except ApiError as exc:
        if exc.status == 404:
            return _not_found(request, session, job_id)
        return _back(request, session, job_id, "error", f"Not cancelled: {exc.message}.")
    if after["status"] == "dead":
        return _back(request, session, job_id, "ok", "Cancelled: the job is now dead.")
    return _back(request, session, job_id, "info", f"The job ended as {after['status']} before it could be cancelled.")
