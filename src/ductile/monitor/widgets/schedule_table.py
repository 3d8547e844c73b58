"""The schedules panel: one row per schedule with last outcome and a next-due countdown."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from ductile.monitor.fmt import STATUS_STYLE, age, countdown

COLUMNS = ("instance", "schedule", "command", "spec", "status", "last fired", "last outcome", "breaker", "next due")
BREAKER_STYLE = {"closed": "green", "open": "bold white on red", "half_open": "bold yellow"}


def spec_text(spec: dict[str, Any]) -> str:
    text = f"every {spec['every']}" if spec.get("every") else f"cron {spec.get('cron')} {spec.get('timezone', '')}"
    return f"{text} ±{spec['jitter']}" if spec.get("jitter") else text


def breaker_text(breaker: dict[str, Any] | None) -> str:
    """`closed`, `closed (1)` after a failure, `open (3)`, `half_open (3)`; `—` from an older gateway."""
    if not breaker:
        return "—"
    count = breaker.get("failure_count") or 0
    return f"{breaker.get('state', '?')} ({count})" if count else str(breaker.get("state", "?"))


class ScheduleTable(DataTable):
    def on_mount(self) -> None:
        self.cursor_type = "row"
        for name in COLUMNS:
            self.add_column(name, key=name)

    def show(self, schedules: list[dict[str, Any]], now: datetime) -> None:
        self.clear()
        for s in schedules:
            outcome = s.get("last_outcome") or "—"
            fired = s.get("last_fired")
            self.add_row(
                s["instance"],
                s["schedule_id"],
                s["command"],
                spec_text(s.get("spec", {})),
                Text(s.get("status", ""), style=STATUS_STYLE.get(s.get("status", ""), "")),
                f"{age(fired, now)} ago" if fired else "never",
                Text(outcome, style=STATUS_STYLE.get(outcome, "")),
                Text(
                    breaker_text(s.get("breaker")), style=BREAKER_STYLE.get((s.get("breaker") or {}).get("state"), "")
                ),
                countdown(s.get("next_due"), now),
                key=f"{s['instance']}:{s['schedule_id']}",
            )
