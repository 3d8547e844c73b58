"""The jobs page's query string → `GET /jobs` parameters, and back.

The page's GET form sends every field, empty ones too, and a `datetime-local` control sends
`2026-11-29T10:00` (no seconds, no zone); `GET /jobs` accepts neither an empty value nor a time
without a zone. So the page drops empty fields and reads a zone-less time as UTC (the form
says so), then hands the rest to the API's own parsing (`api.params.job_query` via
`jobs_body`): the same filters, the same error messages.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

from starlette.datastructures import QueryParams

FIELDS = ("plugin", "command", "status", "submitted_by", "created_after", "created_before", "limit", "cursor")
_LOCAL = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$")
PAGE_SIZE = "50"


def as_utc(value: str) -> str:
    """`2026-11-29T10:00` (a datetime-local control) → `2026-11-29T10:00:00Z`; others unchanged."""
    value = value.strip()
    if _LOCAL.match(value):
        return value + (":00Z" if value.count(":") == 1 else "Z")
    return value


def clean(query: QueryParams) -> list[tuple[str, str]]:
    """The page's filters as (name, value) pairs, empty ones dropped, statuses one per pair."""
    out: list[tuple[str, str]] = []
    for name in FIELDS:
        for value in query.getlist(name):
            if name == "status":
                out.extend(("status", part.strip()) for part in value.split(",") if part.strip())
            elif value.strip():
                out.append((name, as_utc(value) if name.startswith("created_") else value))
    return out


def api_params(pairs: list[tuple[str, str]]) -> QueryParams:
    return QueryParams(pairs)


def url(pairs: list[tuple[str, str]], *, cursor: str | None = None, path: str = "/ui/jobs") -> str:
    """This view's address (shareable): the filters, and `cursor` for a later page."""
    kept = [(k, v) for k, v in pairs if k != "cursor"]
    if cursor:
        kept.append(("cursor", cursor))
    return path + ("?" + urlencode(kept) if kept else "")


def form_value(pairs: list[tuple[str, str]], name: str) -> str:
    """What a single-value control shows; a time is shown as the datetime-local control wants."""
    value = next((v for k, v in pairs if k == name), "")
    if name.startswith("created_") and re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$", value):
        return value[:-1]
    return value
