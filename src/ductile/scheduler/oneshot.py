"""One-shot schedules (`at`, `after`): when they run, and whether a fired one is re-armed.

Pure functions (pipelines.md §9.2). The run time is computed once, on the first evaluation, and
persisted with the definition that produced it; afterwards it is read back, so a restart neither
re-arms nor shifts it. Ours (O13): a changed `at`/`after` value re-arms an exhausted entry.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ductile.config import ScheduleConfig

AT_ACCEPTED = "an RFC 3339 time with an offset, e.g. '2026-06-01T07:30:00+10:00' or '2026-06-01T07:30:00Z'"


def parse_at(text: object) -> datetime:
    """`at:` → an aware datetime; a value without an offset is refused (it would mean different
    instants on different hosts)."""
    if not isinstance(text, str):
        raise ValueError(f"at {text!r} is not a time (accepted: {AT_ACCEPTED})")
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"at {text!r} is not an RFC 3339 time (accepted: {AT_ACCEPTED})") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"at {text!r} has no UTC offset (accepted: {AT_ACCEPTED})")
    return moment


def definition(spec: ScheduleConfig) -> str | None:
    """The configured one-shot value as stored beside its run time (`at:<text>` / `after:<seconds>`)."""
    if spec.at is not None:
        return f"at:{parse_at(spec.at).isoformat()}"
    if spec.after is not None:
        return f"after:{spec.after:g}"
    return None


def run_time(spec: ScheduleConfig, first_evaluation: datetime) -> datetime:
    """`at`: that instant; `after`: the first evaluation (normally the gateway's start) + duration."""
    if spec.at is not None:
        return parse_at(spec.at)
    assert spec.after is not None
    return first_evaluation + timedelta(seconds=spec.after)


def rearm(spec: ScheduleConfig, stored_definition: str | None) -> bool:
    """True when the stored run time (or exhaustion) belongs to another definition than the
    configured one, so the entry starts over (O13)."""
    return stored_definition != definition(spec)
