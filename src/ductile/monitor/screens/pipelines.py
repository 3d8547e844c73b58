"""`l`: every configured pipeline with its last instance — status, when it started, how long it
took (running instances count up at each refresh) — from `GET /pipelines`. Enter opens the
instance's entry job, whose detail screen leads on through its children."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from ductile.monitor.client import ApiRefused, ApiUnavailable
from ductile.monitor.fmt import STATUS_STYLE, age, span

COLUMNS = ("pipeline", "trigger", "steps", "last status", "started", "duration", "jobs", "instance")
REFRESH_SECONDS = 2.0


def trigger_text(p: dict[str, Any]) -> str:
    text = f"on {p['on']}" if p.get("on") else f"hook {p.get('on_hook') or '?'}"
    return f"{text} from {p['from_plugin']}" if p.get("from_plugin") else text


def row_cells(p: dict[str, Any], now: datetime) -> tuple[Any, ...]:
    """One table row (pure, so it is testable without a terminal)."""
    last = p.get("last")
    if not last:
        return (
            p["name"],
            trigger_text(p),
            str(len(p.get("steps", []))),
            Text("never run", style="dim"),
            "",
            "",
            "",
            "",
        )
    status = last.get("status", "")
    return (
        p["name"],
        trigger_text(p),
        str(len(p.get("steps", []))),
        Text(status, style=STATUS_STYLE.get(status, "")),
        f"{age(last.get('started_at'), now)} ago",
        span(last.get("duration_ms", 0) / 1000),
        str(last.get("job_count", "")),
        (last.get("instance_id") or "—")[:8],
    )


class PipelinesScreen(Screen[None]):
    BINDINGS = [Binding("escape,q,l", "app.pop_screen", "back"), Binding("r", "reload", "reload")]

    def __init__(self) -> None:
        super().__init__()
        self.pipelines: list[dict[str, Any]] = []

    def compose(self) -> ComposeResult:
        yield Static(Text("pipelines — last instance of each", style="bold"), id="pipelines-title")
        yield Static("", id="pipelines-message")
        yield DataTable(id="pipelines-table", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#pipelines-table", DataTable)
        for name in COLUMNS:
            table.add_column(name, key=name)
        self.action_reload()
        self.set_interval(REFRESH_SECONDS, self.action_reload)

    @work(exclusive=True, group="pipelines")
    async def action_reload(self) -> None:
        message = self.query_one("#pipelines-message", Static)
        try:
            body = await self.app.client.pipelines()  # type: ignore[attr-defined]
        except (ApiRefused, ApiUnavailable) as exc:
            message.update(Text(f"could not load pipelines: {exc}", style="red"))
            return
        self.pipelines = body.get("pipelines", [])
        message.update(Text("" if self.pipelines else "no pipelines configured", style="dim"))
        self.show(self.app.clock())  # type: ignore[attr-defined]

    def show(self, now: datetime) -> None:
        table = self.query_one("#pipelines-table", DataTable)
        selected = table.cursor_row if table.row_count else 0
        table.clear()
        for p in self.pipelines:
            table.add_row(*row_cells(p, now), key=p["name"])
        if table.row_count:
            table.move_cursor(row=min(selected, table.row_count - 1), animate=False)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        from ductile.monitor.screens.detail import JobDetailScreen

        entry = next((p for p in self.pipelines if p["name"] == event.row_key.value), None)
        if entry and entry.get("last"):
            self.app.push_screen(JobDetailScreen(entry["last"]["job_id"]))
