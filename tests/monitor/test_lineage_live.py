"""The monitor's lineage views against a real gateway with pipelines configured: the pipelines
screen (l) fed by GET /pipelines, and the job detail's lineage (parent, events → children,
enter on a child, u for the parent). Pipeline rows are written straight into the gateway's
database, so this does not depend on routing."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path
from typing import Any

from monitor_helpers import monitor_config, until

from ductile.monitor.app import MonitorApp
from ductile.monitor.client import MonitorClient
from ductile.monitor.screens.detail import JobDetailScreen
from ductile.monitor.screens.pipelines import PipelinesScreen

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "api"))
from live_gateway import seed, stamp

SIZE = (120, 40)
PIPELINES = [{"name": "chain", "on": "x.go", "steps": [{"uses": "echo"}, {"id": "judge", "uses": "grumpy"}]}]


def _family(db_path: Path) -> tuple[str, str]:
    entry, step2 = seed(
        db_path,
        [
            {"plugin": "echo", "command": "handle", "created_at": stamp(4, 0), "submitted_by": "api"},
            {"plugin": "grumpy", "command": "handle", "created_at": stamp(4, 2), "status": "failed"},
        ],
    )
    with sqlite3.connect(db_path, timeout=10) as db:
        for cid, step in (("ctx-1", "step_1"), ("ctx-2", "judge")):
            db.execute(
                "INSERT INTO event_contexts (id, parent_id, pipeline_name, step_id, instance_id, accumulated,"
                " created_at) VALUES (?, NULL, 'chain', ?, 'inst-42', '{}', ?)",
                (cid, step, stamp(4)),
            )
        db.execute(
            "UPDATE jobs SET pipeline='chain', step_id='step_1', event_context_id='ctx-1' WHERE job_id=?", (entry,)
        )
        db.execute(
            "UPDATE jobs SET pipeline='chain', step_id='judge', event_context_id='ctx-2', parent_job_id=?,"
            " source_event_id='ev-9', route_key='chain/judge' WHERE job_id=?",
            (entry, step2),
        )
        db.execute(
            "INSERT INTO plugin_events (job_id, instance, type, payload, created_at, event_id)"
            " VALUES (?, 'echo', 'ductile.step.succeeded', '{\"result\":\"ok\"}', ?, 'ev-9')",
            (entry, stamp(4, 1)),
        )
    return entry, step2


async def test_pipelines_screen_and_lineage_navigation(gateway_factory: Any, tmp_path: Path) -> None:
    config = monitor_config(tmp_path / "plugins")
    config["pipelines"] = PIPELINES
    gw = gateway_factory(config)
    entry, step2 = _family(gw.db_path)
    app = MonitorApp(MonitorClient(gw.url, gw.token), poll_interval=1.0, reconnect_max=0.5)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.connection == "live", what="live connection")
        await pilot.press("l")
        assert isinstance(app.screen, PipelinesScreen)
        screen = app.screen
        table = screen.query_one("#pipelines-table")
        await until(pilot, lambda: table.row_count == 1, what="pipelines row")
        cells = [str(c) for c in table.get_row_at(0)]
        assert cells[:4] == ["chain", "on x.go", "2", "failed"] and cells[5] == "2.0s" and cells[6] == "2"
        table.focus()
        await pilot.press("enter")  # the last instance's entry job
        assert isinstance(app.screen, JobDetailScreen) and app.screen.job_id == entry
        lineage = await until(pilot, lambda: app.screen.query("#detail-lineage"), what="lineage section")
        text = str(lineage.first().render())
        assert "pipeline chain / step step_1" in text
        assert f"ductile.step.succeeded  ev-9  → {step2[:8]}" in text
        children = app.screen.query_one("#detail-children")
        assert children.row_count == 1 and "chain/judge" in [str(c) for c in children.get_row_at(0)]
        children.focus()
        await pilot.press("enter")
        assert isinstance(app.screen, JobDetailScreen) and app.screen.job_id == step2
        await until(pilot, lambda: app.screen.parent_job_id == entry, what="child detail loaded")
        await pilot.press("u")
        assert isinstance(app.screen, JobDetailScreen) and app.screen.job_id == entry
        await pilot.press("escape", "escape", "escape")
        assert isinstance(app.screen, PipelinesScreen)
        await pilot.press("escape")
        assert app.screen is app.main


async def test_pipelines_screen_without_scope_says_so(gateway_factory: Any, tmp_path: Path) -> None:
    config = monitor_config(tmp_path / "plugins")
    config["api"]["auth"]["tokens"].append({"name": "ev", "token": "events-only-0123456789", "scopes": ["events:ro"]})
    gw = gateway_factory(config)
    app = MonitorApp(MonitorClient(gw.url, "events-only-0123456789"), poll_interval=1.0, reconnect_max=0.5)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("l")
        message = app.screen.query_one("#pipelines-message")
        await until(pilot, lambda: "could not load pipelines" in str(message.render()), what="refusal shown")
        assert "403" in str(message.render())
