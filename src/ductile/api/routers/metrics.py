"""`GET /metrics`: the Prometheus text exposition of this gateway's metrics (ductile.metrics).

Behind a token with `system:ro` by default (Prometheus sends one with `authorization:` in its
scrape config); `api.metrics.public: true` opens it for scrapers that cannot send a token,
which is only sensible when the API listens on a private address.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from ductile.api.deps import gateway
from ductile.api.schemas import errors, scoped
from ductile.metrics import PREFETCHED, store_reads
from ductile.store.offload import blocking, off_loop

router = APIRouter(tags=["metrics"])

SCOPE = "system:ro"


@router.get(
    "/metrics",
    summary="Prometheus metrics (text exposition format)",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format 0.0.4"}, **errors(401, 403)},
    openapi_extra=scoped(SCOPE, "Counters, histograms and gauges of this gateway; see docs/OPERATIONS.md#metrics."),
)
async def metrics(request: Request, gw: Any = Depends(gateway)) -> Response:
    settings = gw.config.api.metrics
    if not settings.public:
        request.app.state.tokens.require(request, SCOPE)
    if gw.metrics is None:  # api.metrics.enabled: false
        return Response('{"error":"metrics are disabled (api.metrics.enabled: false)"}', 404, media_type="application/json")
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    if not blocking(gw.store):  # SQLite: the collectors read the store inline, as ever
        return Response(generate_latest(gw.metrics.registry), media_type=CONTENT_TYPE_LATEST)
    # PostgreSQL: the scrape's store reads in one hop off the event loop, then the exposition
    # (which reads the dispatcher, hub and scheduler: loop objects) on the loop.
    token = PREFETCHED.set(await off_loop(gw.store, store_reads, gw))
    try:
        return Response(generate_latest(gw.metrics.registry), media_type=CONTENT_TYPE_LATEST)
    finally:
        PREFETCHED.reset(token)
