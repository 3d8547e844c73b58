"""The main screen: health header, live job table with its filter line, schedules panel."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Static

from ductile.monitor.widgets.health_bar import HealthBar
from ductile.monitor.widgets.job_table import JobTable
from ductile.monitor.widgets.schedule_table import ScheduleTable


class MainScreen(Screen[None]):
    def __init__(self, url: str):
        super().__init__()
        self.url = url

    def compose(self) -> ComposeResult:
        yield HealthBar(self.url, id="health")
        yield Static("filters: none   (p c s cycle, x clear)", id="filters")
        yield JobTable(id="jobs")
        yield Static("schedules", id="schedules-title")
        yield ScheduleTable(id="schedules")
        yield Footer()
