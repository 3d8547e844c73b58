"""`/ui/jobs`: `GET /jobs` as a page — its filters as form controls (the URL is the view, so it
can be shared), cursor paging, and the table re-fetched from `/ui/fragment/jobs` as job events
arrive (new rows appear on the first page, status cells change on any)."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse

from ductile.api.app import ApiError
from ductile.api.routers.jobs import jobs_body
from ductile.lifecycle import ALL_STATUSES
from ductile.ui import jobs_query
from ductile.ui.auth import UiSession, needs
from ductile.ui.pages import page_router
from ductile.ui.render import fragment, page

router = page_router()
SUBMITTERS = ("scheduler", "api", "cli", "route", "hook")


def _listing(request: Request) -> dict[str, Any]:
    """The filters, and either the page of jobs or the error naming the bad filter."""
    gw = request.app.state.gateway
    pairs = jobs_query.clean(request.query_params)
    context: dict[str, Any] = {
        "pairs": pairs,
        "selected": {v for k, v in pairs if k == "status"},
        "value": lambda name: jobs_query.form_value(pairs, name),
        "statuses": ALL_STATUSES,
        "plugins": sorted(gw.registry.instances),
        "commands": sorted({c for i in gw.registry.instances.values() for c in i.plugin.manifest.command_names}),
        "submitters": SUBMITTERS,
        "live_src": jobs_query.url(pairs, path="/ui/fragment/jobs", cursor=_value(pairs, "cursor")),
        "first_url": jobs_query.url(pairs) if _value(pairs, "cursor") else None,
        "error": None,
        "jobs": [],
        "total": 0,
        "next_url": None,
    }
    try:
        body = jobs_body(gw.store, jobs_query.api_params(pairs))
    except ApiError as exc:
        context["error"] = exc.message
        return context
    context["jobs"] = body["jobs"]
    context["total"] = body["total"]
    if body["next_cursor"]:
        context["next_url"] = jobs_query.url(pairs, cursor=body["next_cursor"])
    return context


def _value(pairs: list[tuple[str, str]], name: str) -> str | None:
    return next((v for k, v in pairs if k == name), None)


@router.get("/jobs", response_class=HTMLResponse)
def jobs(request: Request, session: UiSession = Depends(needs("jobs:status:ro"))) -> HTMLResponse:
    context = _listing(request)
    status = 400 if context["error"] else 200
    return page(request, session, "jobs.html", title="Jobs", active="/ui/jobs", status=status, **context)


@router.get("/fragment/jobs", response_class=HTMLResponse)
def jobs_fragment(request: Request, session: UiSession = Depends(needs("jobs:status:ro"))) -> HTMLResponse:
    context = _listing(request)
    return fragment("jobs_table.html", request=request, status=400 if context["error"] else 200, **context)
