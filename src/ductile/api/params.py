"""Query-string parsing for the read endpoints.

Parameters are parsed by hand rather than by FastAPI's validation so that every bad value is a
400 whose message names the parameter and what it accepts (never a 422), and so the OpenAPI
document can describe each parameter precisely (see `schemas.query_param`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from starlette.datastructures import QueryParams

from ductile.api import cursor
from ductile.jobs import AttemptQuery, JobQuery
from ductile.lifecycle import Status, parse_status_filter
from ductile.timeutil import from_text, to_text

LIMIT_DEFAULT = 50
LIMIT_MAX = 200
MAX_TEXT = 200
RFC3339 = r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
_RFC3339 = re.compile(RFC3339)


class BadParam(ValueError):
    """A query parameter the client must fix; the message is the whole 400 body."""


def _all(params: QueryParams | Mapping[str, str], name: str) -> list[str]:
    if isinstance(params, QueryParams):
        return params.getlist(name)
    return [params[name]] if params.get(name) is not None else []


def _one(params: QueryParams | Mapping[str, str], name: str) -> str | None:
    values = _all(params, name)
    if len(values) > 1:
        raise BadParam(f"{name}: given {len(values)} times (accepted: once)")
    return values[0] if values else None


def one(params: QueryParams | Mapping[str, str], name: str) -> str | None:
    """The parameter's value as sent (None when absent); given twice is a BadParam."""
    return _one(params, name)


def text(params: QueryParams | Mapping[str, str], name: str) -> str | None:
    value = _one(params, name)
    if value is None:
        return None
    if value == "" or len(value) > MAX_TEXT or "\x00" in value:
        raise BadParam(f"{name}: {value[:40]!r} is not accepted (accepted: 1..{MAX_TEXT} characters, exact match)")
    return value


def limit(params: QueryParams | Mapping[str, str], name: str = "limit") -> int:
    value = _one(params, name)
    if value is None:
        return LIMIT_DEFAULT
    stripped = value.strip()
    if not re.fullmatch(r"[0-9]{1,6}", stripped) or not 1 <= int(stripped) <= LIMIT_MAX:
        raise BadParam(
            f"{name}: {value[:40]!r} is not accepted (accepted: an integer 1..{LIMIT_MAX}, default {LIMIT_DEFAULT})"
        )
    return int(stripped)


def statuses(params: QueryParams | Mapping[str, str], name: str = "status") -> tuple[Status, ...]:
    values = _all(params, name)
    if not values:
        return ()
    try:
        return tuple(parse_status_filter(",".join(values)))
    except ValueError as exc:
        raise BadParam(f"{name}: {exc}")


def moment(params: QueryParams | Mapping[str, str], name: str) -> str | None:
    """An RFC 3339 time, normalised to the store's fixed-width text so it compares correctly."""
    value = _one(params, name)
    if value is None:
        return None
    try:
        if not _RFC3339.match(value.strip()):
            raise ValueError
        when = from_text(value)
    except (ValueError, OverflowError):
        raise BadParam(
            f"{name}: {value[:40]!r} is not accepted (accepted: an RFC 3339 time, e.g. 2026-11-29T10:00:00Z)"
        )
    return to_text(when)  # the store's fixed-width form, so text comparison is time order


# One time-window vocabulary on every surface: each bound accepts all three names in use
# (ours `since`/`until`, Ductile's `from`/`to`, the seed card's `created_after`/`created_before`).
AFTER_NAMES = ("since", "from", "created_after")
BEFORE_NAMES = ("until", "to", "created_before")


def window_bound(params: QueryParams | Mapping[str, str], names: tuple[str, ...], primary: str) -> str | None:
    """The bound given under any of `names` (same meaning); two different values is a 400."""
    given = [(name, moment(params, name)) for name in (primary, *[n for n in names if n != primary])]
    values = {value for _, value in given if value is not None}
    if len(values) > 1:
        used = ", ".join(name for name, value in given if value is not None)
        raise BadParam(f"{used}: the same bound given twice with different times (accepted: one of {', '.join(names)})")
    return values.pop() if values else None


def flag(params: QueryParams | Mapping[str, str], name: str) -> bool:
    value = _one(params, name)
    if value is None:
        return False
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes"):
        return True
    if lowered in ("0", "false", "no", ""):
        return False
    raise BadParam(f"{name}: {value[:40]!r} is not accepted (accepted: true or false)")


def job_query(params: QueryParams | Mapping[str, str]) -> JobQuery:
    after_text = _one(params, "cursor")
    after = None
    if after_text is not None:
        try:
            after = cursor.decode(after_text)
        except cursor.CursorError:
            raise BadParam("cursor: malformed (accepted: the next_cursor value of a previous GET /jobs response)")
    created_after = window_bound(params, AFTER_NAMES, "created_after")
    created_before = window_bound(params, BEFORE_NAMES, "created_before")
    return JobQuery(
        plugin=text(params, "plugin"),
        command=text(params, "command"),
        statuses=statuses(params),
        submitted_by=text(params, "submitted_by"),
        created_after=created_after,
        created_before=created_before,
        after=after,
        limit=limit(params),
        parent_job_id=text(params, "parent_job_id"),
        pipeline=text(params, "pipeline"),
    )


def attempt_query(params: QueryParams | Mapping[str, str]) -> AttemptQuery:
    return AttemptQuery(
        job_id=text(params, "job_id"),
        plugin=text(params, "plugin"),
        command=text(params, "command"),
        statuses=tuple(s.value for s in statuses(params)),
        submitted_by=text(params, "submitted_by"),
        since=window_bound(params, AFTER_NAMES, "from"),
        until=window_bound(params, BEFORE_NAMES, "to"),
        text=text(params, "query"),
        limit=limit(params),
    )
