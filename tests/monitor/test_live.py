"""Pilot tests against a real gateway subprocess: fill, filter, detail, state, restart survival."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import enqueue
from monitor_helpers import monitor_config, until

from ductile.monitor.app import MonitorApp
from ductile.monitor.client import MonitorClient
from ductile.monitor.screens.detail import JobDetailScreen
from ductile.monitor.screens.state import PluginStateScreen
from ductile.monitor.widgets.health_bar import HealthBar
from ductile.monitor.widgets.job_table import JobTable

SIZE = (120, 40)


def _app(gw: Any) -> MonitorApp:
    return MonitorApp(MonitorClient(gw.url, gw.token), poll_interval=1.0, reconnect_max=0.5, health_interval=0.5)


def _plugins(app: MonitorApp) -> set[str]:
    table = app.main.query_one(JobTable)
    return {str(table.get_row_at(i)[2]) for i in range(table.row_count)}


async def test_table_fills_filters_narrow_and_detail_shows_stderr(gateway_factory: Any, tmp_path: Path) -> None:
    gw = gateway_factory(monitor_config(tmp_path / "plugins"))
    app = _app(gw)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.connection == "live", what="live connection")
        ids = [enqueue(gw.url, gw.token, "echo", "poll") for _ in range(3)]
        bad = enqueue(gw.url, gw.token, "grumpy", "poll")
        table = app.main.query_one(JobTable)
        await until(pilot, lambda: table.row_count >= 4, what="4 rows")
        await until(
            pilot, lambda: all(app.book.jobs[i].get("status") == "succeeded" for i in ids), what="echo jobs done"
        )
        await until(pilot, lambda: app.book.jobs[bad].get("status") == "failed", what="grumpy failed")
        assert _plugins(app) == {"echo", "grumpy"}

        await pilot.press("p")  # first plugin alphabetically: echo
        assert app.filters.plugin == "echo"
        await until(pilot, lambda: _plugins(app) == {"echo"}, what="filter by plugin")
        assert table.row_count == 3
        await pilot.press("p", "s", "s", "s", "s")  # grumpy, then status queued→running→succeeded→failed
        assert (app.filters.plugin, app.filters.status) == ("grumpy", "failed")
        await until(pilot, lambda: table.row_count == 1, what="grumpy+failed")
        await pilot.press("x")
        await until(pilot, lambda: table.row_count >= 4, what="filters cleared")

        await pilot.press("s", "s", "s", "s")  # status=failed
        await until(pilot, lambda: table.row_count == 1, what="failed only")
        table.focus()
        await pilot.press("enter")
        assert isinstance(app.screen, JobDetailScreen) and app.screen.job_id == bad
        stderr = await until(pilot, lambda: app.screen.query("#attempt-1-stderr"), what="attempt stderr rendered")
        assert "grumpy-stderr-marker" in str(stderr.first().render())
        assert "grumpy says no" in str(app.screen.query_one("#attempt-1-error").render())
        assert "{}" in str(app.screen.query_one("#detail-payload").render())
        await pilot.press("escape")
        assert app.screen is app.main

        await pilot.press("t")
        assert isinstance(app.screen, PluginStateScreen)
        await pilot.press("escape")
        await pilot.press("question_mark")
        assert "help" in str(app.screen.query_one("#help-keys").render()) or app.screen.query("#help-keys")
        await pilot.press("escape")


async def test_survives_gateway_kill_and_restart(gateway_factory: Any, tmp_path: Path) -> None:
    gw = gateway_factory(monitor_config(tmp_path / "plugins"))
    app = _app(gw)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.connection == "live", what="live connection")
        first = enqueue(gw.url, gw.token, "echo", "poll")
        await until(pilot, lambda: app.book.jobs.get(first, {}).get("status") == "succeeded", what="first job")

        gw.kill9()
        await until(pilot, lambda: app.connection == "disconnected", what="disconnected state")
        bar = app.main.query_one(HealthBar)
        assert "disconnected" in str(bar.render())
        table = app.main.query_one(JobTable)
        await until(pilot, lambda: table.row_count >= 1, what="rows kept while disconnected")

        gw.start()
        await until(pilot, lambda: app.connection == "live", timeout=20, what="reconnected")
        second = enqueue(gw.url, gw.token, "echo", "poll")
        await until(pilot, lambda: app.book.jobs.get(second, {}).get("status") == "succeeded", what="job after restart")
        assert "live" in str(bar.render())


async def test_polls_when_token_lacks_events_scope(gateway_factory: Any, tmp_path: Path) -> None:
    config = monitor_config(tmp_path / "plugins")
    config["api"]["auth"]["tokens"].append({"name": "ro", "token": "jobs-only-0123456789", "scopes": ["jobs:ro"]})
    gw = gateway_factory(config)
    app = MonitorApp(MonitorClient(gw.url, "jobs-only-0123456789"), poll_interval=0.5, reconnect_max=0.5)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.connection == "polling", what="polling fallback")
        job = enqueue(gw.url, gw.token, "echo", "poll")
        await until(pilot, lambda: app.book.jobs.get(job, {}).get("status") == "succeeded", what="polled job")
