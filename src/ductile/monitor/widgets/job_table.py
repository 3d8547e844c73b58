"""The live job table: newest first, coloured status, attempt, duration, age."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from ductile.monitor.fmt import STATUS_STYLE, age, duration

COLUMNS = ("age", "job", "plugin", "command", "status", "attempt", "duration")


class JobTable(DataTable):
    """Redrawn from the model on a timer; keeps the cursor on the same job across redraws."""

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = True
        for name in COLUMNS:
            self.add_column(name, key=name)

    def show(self, rows: list[dict[str, Any]], now: datetime) -> None:
        selected = self.selected_job()
        self.clear()
        for job in rows:
            status = job.get("status", "")
            self.add_row(
                age(job.get("created_at"), now),
                job["job_id"][:8],
                job.get("plugin", ""),
                job.get("command", ""),
                Text(status, style=STATUS_STYLE.get(status, "")),
                str(job.get("attempt", "")),
                duration(job, now),
                key=job["job_id"],
            )
        if selected is not None:
            try:
                self.move_cursor(row=self.get_row_index(selected), animate=False)
            except Exception:  # the job scrolled out of the filtered view
                pass

    def selected_job(self) -> str | None:
        if self.row_count == 0:
            return None
        try:
            return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except Exception:
            return None
