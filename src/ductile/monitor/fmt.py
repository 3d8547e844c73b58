"""Pure formatting for the monitor and `system status`: ages, durations, countdowns, status colours,
schedule specs. No Textual or Rich here: `system status` runs on the CLI fast path (cli/fast.py)."""

from __future__ import annotations

from ductile.timeutil import from_text

TYPE_CHECKING = False  # not `typing`: on the CLI fast path (cli/fast.py)
if TYPE_CHECKING:
    from datetime import datetime
    from typing import Any

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


def spec_text(spec: dict[str, Any]) -> str:
    if spec.get("every"):
        text = f"every {spec['every']}"
    elif spec.get("at"):
        text = f"at {spec['at']}"
    elif spec.get("after"):
        text = f"after {spec['after']}"
    else:
        text = f"cron {spec.get('cron')} {spec.get('timezone', '')}"
    if spec.get("only_between"):
        text += f" {spec['only_between']}"
    if spec.get("not_on"):
        text += " not " + ",".join(DAYS[d] for d in spec["not_on"] if 0 <= d < 7)
    if (spec.get("only_between") or spec.get("not_on")) and not spec.get("cron"):
        text += f" {spec.get('timezone', 'UTC')}"
    return f"{text} ±{spec['jitter']}" if spec.get("jitter") else text


def breaker_text(breaker: dict[str, Any] | None) -> str:
    """`closed`, `closed (1)` after a failure, `open (3)`, `half_open (3)`; `—` from an older gateway."""
    if not breaker:
        return "—"
    count = breaker.get("failure_count") or 0
    return f"{breaker.get('state', '?')} ({count})" if count else str(breaker.get("state", "?"))


DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def shown_status(s: dict[str, Any]) -> str:
    """The entry status (paused_manual, paused_invalid, exhausted) when it is not active, else what
    the last fire did (waiting, running, skipped, disabled)."""
    entry = s.get("entry_status")
    return entry if entry and entry != "active" else s.get("status", "")
