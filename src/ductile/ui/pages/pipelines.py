"""`/ui/pipelines` and `/ui/pipelines/{name}`: each compiled pipeline drawn as a server-rendered
SVG graph (with a table saying the same in words), and its last instances with their outcome.

The list reuses `GET /pipelines`' body (`pipelines_body`: trigger, steps, last instance) and its
instance summary (`summarize_instance`), so page and API agree on what "last run" and its
status mean. Scope `jobs:tree:ro`, as the API.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse

from ductile.api.routers.lineage import pipelines_body, summarize_instance
from ductile.jobs import JobQuery
from ductile.timeutil import utcnow
from ductile.ui import pipeline_graph
from ductile.ui.auth import UiSession, needs
from ductile.ui.pages import page_router
from ductile.ui.render import page

router = page_router()
SCOPE = "jobs:tree:ro"
RECENT = 10  # instances listed on a pipeline's page
SCAN = 200  # newest step jobs of the pipeline looked at to find them
MAX_DRAWN = 50  # pipelines drawn on the list page; the rest are listed (each has its own page)


def _graph(request: Request) -> Any:
    return getattr(request.app.state.gateway.setup, "graph", None)


def recent_instances(store: Any, graph: Any, name: str, now: Any, limit: int = RECENT) -> list[dict[str, Any]]:
    """The newest `limit` runs of pipeline `name`, newest first: each entry-step job (a job of an
    entry step always starts a run: compiled graphs have no cycles back to an entry) with the
    outcome of the tree it started, summarized as `GET /pipelines` summarizes `last`."""
    entry_steps = {d.step_id for d in graph.entry_dispatches(name) if d.pipeline == name}
    page_ = store.list_jobs(JobQuery(pipeline=name, limit=SCAN))
    out = []
    for job in page_.jobs:
        if job.step_id not in entry_steps:
            continue
        family = store.job_tree(job.job_id)
        rows = [{"status": j.status.value, "created_at": j.created_at, "completed_at": j.completed_at} for j in family]
        if not rows:
            continue
        out.append({"job_id": job.job_id, "step_id": job.step_id, **summarize_instance(rows, now)})
        if len(out) >= limit:
            break
    return out


@router.get("/pipelines", response_class=HTMLResponse)
async def pipelines(request: Request, session: UiSession = Depends(needs(SCOPE))) -> HTMLResponse:
    graph = _graph(request)
    items: list[dict[str, Any]] = []
    if graph is not None:
        items = pipelines_body(graph, request.app.state.gateway.store, utcnow())["pipelines"]
        for index, item in enumerate(items):
            p = graph.get(item["name"])
            item["trigger"] = pipeline_graph.trigger_text(p)
            item["drawing"] = pipeline_graph.layout(p) if index < MAX_DRAWN else None
    return page(request, session, "pipelines.html", title="Pipelines", active="/ui/pipelines", items=items)


@router.get("/pipelines/{name}", response_class=HTMLResponse)
async def pipeline(name: str, request: Request, session: UiSession = Depends(needs(SCOPE))) -> HTMLResponse:
    graph = _graph(request)
    p = graph.get(name) if graph is not None else None
    if p is None:
        known = sorted(graph.pipelines) if graph is not None else []
        message = f"There is no pipeline named {name[:80]!r}" + (
            f" (configured: {', '.join(known[:20])})." if known else " (none are configured)."
        )
        return page(
            request, session, "error.html", title="No such pipeline", status=404, active="/ui/pipelines", message=message
        )
    store = request.app.state.gateway.store
    return page(
        request,
        session,
        "pipeline.html",
        title=f"Pipeline {name}",
        active="/ui/pipelines",
        p=p,
        trigger=pipeline_graph.trigger_text(p),
        condition=pipeline_graph.describe(p.condition),
        drawing=pipeline_graph.layout(p),
        instances=recent_instances(store, graph, name, utcnow()),
    )
