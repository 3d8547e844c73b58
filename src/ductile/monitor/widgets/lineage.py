"""Lineage in the job detail screen: where the job sits (parent, pipeline/step), what its events
started, and a table of its children to step into (enter opens the child)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from ductile.monitor.fmt import STATUS_STYLE

CHILD_COLUMNS = ("job", "plugin", "command", "step", "status")


def has_lineage(job: dict[str, Any]) -> bool:
    return bool(job.get("parent_job_id") or job.get("pipeline") or job.get("events") or job.get("children"))


def lineage_text(job: dict[str, Any]) -> Text:
    """Parent, pipeline/step and each emitted event with the jobs it started (short ids)."""
    text = Text()
    if job.get("pipeline"):
        text.append("pipeline ", style="dim")
        text.append(f"{job['pipeline']}", style="bold")
        text.append(f" / step {job.get('step_id') or '?'}\n")
    if job.get("parent_job_id"):
        text.append("parent   ", style="dim")
        text.append(f"{job['parent_job_id']}  (u opens it)\n")
    events = job.get("events") or []
    if events:
        text.append("emitted events → jobs started\n", style="dim")
    for event in events:
        started = ", ".join(child[:8] for child in event.get("children") or []) or "none"
        text.append(f"  {event.get('type')}", style="bold")
        text.append(f"  {(event.get('event_id') or '-')[:8]}  → {started}\n")
    if not job.get("children"):
        text.append("no children\n", style="dim")
    return text


class ChildTable(DataTable):
    """Direct children; the row key is the child's job id."""

    def __init__(self, children: list[dict[str, Any]], **kwargs: Any):
        super().__init__(**kwargs)
        self._children = children

    def on_mount(self) -> None:
        self.cursor_type = "row"
        for name in CHILD_COLUMNS:
            self.add_column(name, key=name)
        for child in self._children:
            status = child.get("status", "")
            step = f"{child['pipeline']}/{child.get('step_id') or '?'}" if child.get("pipeline") else "—"
            self.add_row(
                child["job_id"][:8],
                child.get("plugin", ""),
                child.get("command", ""),
                step,
                Text(status, style=STATUS_STYLE.get(status, "")),
                key=child["job_id"],
            )
