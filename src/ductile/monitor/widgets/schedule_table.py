"""The schedules panel: one row per schedule with last outcome and a next-due countdown."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from ductile.monitor.fmt import STATUS_STYLE, age, breaker_text, countdown, shown_status, spec_text

# instance/schedule in one column: with health and breaker the table must still fit 120 columns
COLUMNS = ("schedule", "command", "spec", "status", "health", "fired", "outcome", "breaker", "next due")
HEALTH_STYLE = {
    "ok": "green",
    "late": "bold yellow",
    "failing": "bold white on red",
    "stale": "bold red",
    "paused": "dim",
}
BREAKER_STYLE = {"closed": "green", "open": "bold white on red", "half_open": "bold yellow"}


def _health_text(health: dict[str, Any] | None) -> Text:
    """`failing (3)` with the consecutive failures; `—` from an older gateway."""
    if not health:
        return Text("—")
    state = health.get("state", "?")
    count = health.get("consecutive_failures") or 0
    return Text(f"{state} ({count})" if state == "failing" else state, style=HEALTH_STYLE.get(state, ""))


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
                f"{s['instance']}/{s['schedule_id']}",
                s["command"],
                spec_text(s.get("spec", {})),
                Text(shown_status(s), style=STATUS_STYLE.get(shown_status(s), "")),
                _health_text(s.get("health")),
                f"{age(fired, now)} ago" if fired else "never",
                Text(outcome, style=STATUS_STYLE.get(outcome, "")),
                Text(
                    breaker_text(s.get("breaker")), style=BREAKER_STYLE.get((s.get("breaker") or {}).get("state"), "")
                ),
                countdown(s.get("next_due"), now),
                key=f"{s['instance']}:{s['schedule_id']}",
            )
