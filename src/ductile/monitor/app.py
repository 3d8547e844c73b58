"""`ductile system monitor`: a Textual app over the gateway API, live via `/events`.

The app gets its data source through the constructor (a `MonitorClient` or a stub with the same
methods), so tests drive it against a real gateway or canned data. One connection worker owns
the lifecycle: subscribe to `/events`, refetch snapshots on open/gap/lag, fall back to polling
when the token lacks `events:ro`, and reconnect with backoff when the gateway goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from textual.app import App
from textual.binding import Binding
from textual.widgets import DataTable, Static

from ductile.monitor import messages as msg
from ductile.monitor.client import ApiRefused, ApiUnavailable, MonitorClient
from ductile.monitor.model import Filters, JobBook
from ductile.monitor.screens.detail import JobDetailScreen
from ductile.monitor.screens.help import HelpScreen
from ductile.monitor.screens.main import MainScreen
from ductile.monitor.screens.pipelines import PipelinesScreen
from ductile.monitor.screens.state import PluginStateScreen
from ductile.monitor.widgets.health_bar import HealthBar
from ductile.monitor.widgets.job_table import JobTable
from ductile.monitor.widgets.schedule_table import ScheduleTable
from ductile.timeutil import utcnow

STATUSES = ("queued", "running", "succeeded", "failed", "timed_out", "dead")


class MonitorApp(App[None]):
    CSS_PATH = "monitor.tcss"
    TITLE = "ductile monitor"
    BINDINGS = [
        Binding("q", "quit", "quit"),
        Binding("question_mark", "help", "keys"),
        Binding("p", "cycle('plugin')", "plugin"),
        Binding("c", "cycle('command')", "command"),
        Binding("s", "cycle('status')", "status"),
        Binding("x", "clear_filters", "clear"),
        Binding("t", "state", "state"),
        Binding("l", "pipelines", "pipelines"),
        Binding("r", "refetch", "refresh"),
        # on the selected row of the schedules panel (plugin:rw); not in the footer, listed under `?`
        Binding("P", "schedule('toggle')", "pause/resume", show=False),
        Binding("R", "schedule('run')", "run now", show=False),
    ]

    def __init__(
        self,
        client: MonitorClient | Any,
        *,
        poll_interval: float = 5.0,
        health_interval: float = 2.0,
        reconnect_max: float = 5.0,
        read_timeout: float = 45.0,
        clock: Callable[[], datetime] = utcnow,
    ):
        super().__init__()
        self.client = client
        self.poll_interval = poll_interval
        self.health_interval = health_interval
        self.reconnect_max = reconnect_max
        self.read_timeout = read_timeout
        self.clock = clock
        self.book = JobBook()
        self.filters = Filters()
        self.schedules: list[dict[str, Any]] = []
        self.connection = "connecting"
        self.use_sse = True
        self.main = MainScreen(getattr(client, "base_url", ""))
        self._dirty = True
        self._stale = False
        self._schedules_stale = False
        self._last_health = 0.0
        self._last_schedules = 0.0
        self._last_render = 0.0
        self._busy: set[str] = set()

    # -- lifecycle -------------------------------------------------------------------------------

    def on_mount(self) -> None:
        self.push_screen(self.main)
        self.set_interval(0.5, self._tick)
        self.run_worker(self._connection(), name="connection", group="connection", exclusive=True)

    async def _connection(self) -> None:
        """Forever: stream events (or poll), and on failure show it and retry with backoff."""
        delay, last_id = 0.25, None
        while True:
            try:
                if self.use_sse:
                    last_id = await self._stream(last_id)
                else:
                    await self.refetch()
                    self.post_message(msg.ConnectionChanged("polling"))
                    await asyncio.sleep(self.poll_interval)
                delay = 0.25
            except ApiRefused as exc:
                if exc.status in (403, 404) and self.use_sse:
                    self.use_sse = False  # token lacks events:ro, or an old gateway: poll instead
                    continue
                self.post_message(msg.ConnectionChanged("disconnected", str(exc)))
                await asyncio.sleep(self.reconnect_max)
            except ApiUnavailable as exc:
                last_id = None  # probably a restart: ids start over; the refetch covers the gap
                self.post_message(msg.ConnectionChanged("disconnected", _short(exc)))
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.reconnect_max)

    async def _stream(self, last_id: int | None) -> int | None:
        """Read one SSE connection to its end; return the last id seen for resuming."""
        async for batch in self.client.event_batches(last_id, read_timeout=self.read_timeout):
            updates: list[tuple[str, dict[str, Any], str]] = []
            for event in batch:
                if event.type == "stream.open":
                    await self.refetch()  # after subscribing, so nothing falls between snapshot and stream
                    self.post_message(msg.ConnectionChanged("live"))
                elif event.type in ("stream.gap", "stream.lagged"):
                    self._stale = True
                elif event.id is not None:
                    last_id = event.id
                    updates.append((event.type, event.data.get("data", {}), event.data.get("at", "")))
            if updates:
                self.post_message(msg.JobEvents(updates))
        return last_id

    async def refetch(self) -> None:
        """Health, jobs (plus the filtered view) and schedules, in one go."""
        health = await self.client.health()
        self.post_message(msg.HealthUpdated(health))
        await self._fetch_jobs()
        await self._fetch_schedules()

    async def _fetch_jobs(self) -> None:
        jobs = (await self.client.jobs(limit=100)).get("jobs", [])
        f = self.filters
        if f.plugin or f.command or f.status:
            jobs += (await self.client.jobs(plugin=f.plugin, command=f.command, status=f.status, limit=100)).get(
                "jobs", []
            )
        self.post_message(msg.JobsFetched(jobs))

    async def _fetch_schedules(self) -> None:
        try:
            body = await self.client.schedules()
        except ApiRefused:
            return  # token without jobs:ro: the panel stays empty
        self._last_schedules = time.monotonic()
        self.post_message(msg.SchedulesFetched(body.get("schedules", [])))

    # -- periodic work ---------------------------------------------------------------------------

    def _tick(self) -> None:
        now = time.monotonic()
        online = self.connection in ("live", "polling")
        if online and (self._stale or self.book.unknown_seen):
            self._stale = self.book.unknown_seen = False
            self._background("jobs", self._fetch_jobs())
        if online and now - self._last_health >= self.health_interval:
            self._last_health = now
            self._background("health", self._fetch_health())
        if online and (self._schedules_stale or now - self._last_schedules >= self.poll_interval):
            self._schedules_stale = False
            self._background("schedules", self._fetch_schedules())
        # At most one redraw a second (ages tick by the second anyway): under a flood of events the
        # redraw, not the event handling, is what costs CPU. Key presses redraw at once.
        if now - self._last_render >= 1.0:
            self.render_tables()

    async def _fetch_health(self) -> None:
        self.post_message(msg.HealthUpdated(await self.client.health()))

    def _background(self, name: str, job: Any) -> None:
        """Run one fetch at a time per kind; failures are the connection worker's business."""
        if name in self._busy:
            job.close()
            return
        self._busy.add(name)

        async def run() -> None:
            try:
                await job
            except (ApiUnavailable, ApiRefused):
                pass
            finally:
                self._busy.discard(name)

        self.run_worker(run(), group=name)

    def render_tables(self) -> None:
        self._dirty = False
        self._last_render = time.monotonic()
        now = self.clock()
        with contextlib.suppress(Exception):  # before the main screen is mounted
            self.main.query_one(JobTable).show(self.book.rows(self.filters), now)
            self.main.query_one(ScheduleTable).show(self.schedules, now)

    # -- messages --------------------------------------------------------------------------------

    def on_connection_changed(self, message: msg.ConnectionChanged) -> None:
        self.connection = message.state
        for bar in self.main.query(HealthBar):  # none while the app is shutting down
            bar.set_state(message.state, message.detail)

    def on_health_updated(self, message: msg.HealthUpdated) -> None:
        for bar in self.main.query(HealthBar):  # none while the app is shutting down
            bar.set_health(message.health)

    def on_jobs_fetched(self, message: msg.JobsFetched) -> None:
        self.book.merge(message.jobs)
        self._dirty = True

    def on_schedules_fetched(self, message: msg.SchedulesFetched) -> None:
        self.schedules = message.schedules
        self._dirty = True

    def on_job_events(self, message: msg.JobEvents) -> None:
        for event_type, data, at in message.events:
            self.book.apply(event_type, data, at)
            if event_type.startswith("scheduler.") or data.get("submitted_by") == "scheduler":
                self._schedules_stale = True
        self._dirty = True

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if isinstance(event.data_table, JobTable):
            self.push_screen(JobDetailScreen(str(event.row_key.value)))
        elif isinstance(event.data_table, ScheduleTable):
            entry = next(
                (s for s in self.schedules if f"{s['instance']}:{s['schedule_id']}" == event.row_key.value), None
            )
            if entry and entry.get("last_job_id"):
                self.push_screen(JobDetailScreen(entry["last_job_id"]))

    # -- actions ---------------------------------------------------------------------------------

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_state(self) -> None:
        self.push_screen(PluginStateScreen())

    def action_pipelines(self) -> None:
        self.push_screen(PipelinesScreen())

    def action_refetch(self) -> None:
        self._stale = True
        self._schedules_stale = True

    def action_schedule(self, op: str) -> None:
        """Pause/resume (`P`) or run now (`R`) the schedule under the schedules panel's cursor."""
        table = self.main.query_one(ScheduleTable)
        if table.row_count == 0:
            self.notify("no schedule selected", severity="warning")
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        entry = next((s for s in self.schedules if f"{s['instance']}:{s['schedule_id']}" == key), None)
        if entry is None or entry.get("entry_status") is None:
            self.notify(f"{key}: the instance is disabled", severity="warning")
            return
        action = op if op == "run" else ("resume" if entry["entry_status"] == "paused_manual" else "pause")
        self.run_worker(self._schedule_action(entry["instance"], entry["schedule_id"], action), group="schedule-action")

    async def _schedule_action(self, plugin: str, schedule_id: str, action: str) -> None:
        try:
            body = await self.client.schedule_action(plugin, schedule_id, action)
        except (ApiRefused, ApiUnavailable) as exc:
            self.notify(f"{action} {plugin}/{schedule_id}: {_short(exc)}", severity="error")
            return
        done = f"queued job {body['job_id'][:8]}" if action == "run" else body.get("status", action)
        self.notify(f"{plugin}/{schedule_id}: {done}")
        self._schedules_stale = True
        await self._fetch_schedules()

    def action_cycle(self, key: str) -> None:
        """Step one filter through the values seen so far (then back to none)."""
        options = list(STATUSES) if key == "status" else self.book.values(key)
        current = getattr(self.filters, key)
        choices: list[str | None] = [None, *options]
        index = choices.index(current) if current in choices else 0
        self.set_filters(**{key: choices[(index + 1) % len(choices)]})

    def action_clear_filters(self) -> None:
        self.set_filters(plugin=None, command=None, status=None)

    def set_filters(self, **changes: str | None) -> None:
        self.filters = dataclasses.replace(self.filters, **changes)
        self.main.query_one("#filters", Static).update(f"filters: {self.filters.describe()}   (p c s cycle, x clear)")
        self._dirty = True
        self._stale = True  # fetch older jobs matching the new filter
        self.render_tables()


def _short(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) < 90 else text[:87] + "..."
