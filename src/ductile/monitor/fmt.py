"""Pure formatting for the monitor: ages, durations, countdowns, status colours. No Textual here."""

from __future__ import annotations

from datetime import datetime

from ductile.timeutil import from_text

STATUS_STYLE = {
    "queued": "yellow",
    "running": "bold cyan",
    "succeeded": "green",
    "failed": "bold red",
    "timed_out": "magenta",
    "dead": "bold white on red",
    "skipped": "dim",
    "waiting": "green",
    "disabled": "dim",
    "paused_manual": "bold yellow",
    "paused_invalid": "bold red",
    "exhausted": "dim",
}


def parse(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return from_text(text)
    except ValueError:
        return None


def span(seconds: float) -> str:
    """Compact human duration: 850ms, 12.3s, 4m05s, 3h12m, 2d04h."""
    if seconds < 0:
        seconds = 0
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"


def age(text: str | None, now: datetime) -> str:
    moment = parse(text)
    return span((now - moment).total_seconds()) if moment else ""


def countdown(text: str | None, now: datetime) -> str:
    moment = parse(text)
    if moment is None:
        return "—"
    left = (moment - now).total_seconds()
    return "due now" if left <= 0 else f"in {span(left)}"


def duration(job: dict, now: datetime) -> str:
    if job.get("duration_ms") is not None and job.get("status") not in ("running", "queued"):
        return span(job["duration_ms"] / 1000)
    started, completed = parse(job.get("started_at")), parse(job.get("completed_at"))
    if started and completed:
        return span((completed - started).total_seconds())
    if started and job.get("status") == "running":
        return span((now - started).total_seconds())
    return ""
