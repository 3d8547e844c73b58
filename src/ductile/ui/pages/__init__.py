"""Dashboard pages: one module per page, each with a `router` made by `page_router()`.

`ductile.ui.router.install` includes the modules named in its `PAGES` when they exist. A page
handler takes `session: UiSession = Depends(needs("<scope>"))` and answers with
`ductile.ui.render.page(...)`; a POST takes `Depends(csrf_protected(needs("<scope>")))`.
"""

from __future__ import annotations

from fastapi import APIRouter


def page_router() -> APIRouter:
    """Every dashboard route lives under /ui and stays out of /openapi.json (the API's contract)."""
    return APIRouter(prefix="/ui", include_in_schema=False)
