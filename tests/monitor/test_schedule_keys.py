"""The monitor's schedule keys against a real gateway: `P` pauses/resumes, `R` runs now."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from monitor_helpers import monitor_config, until

from ductile.monitor.app import MonitorApp
from ductile.monitor.client import MonitorClient
from ductile.monitor.widgets.schedule_table import ScheduleTable

SIZE = (120, 40)


def _entry(gw: Any) -> dict[str, Any]:
    body = httpx.get(f"{gw.url}/schedules", headers={"Authorization": f"Bearer {gw.token}"}, timeout=10).json()
    return next(s for s in body["schedules"] if s["schedule_id"] == "tick")


async def test_pause_resume_and_run_now_keys(gateway_factory: Any, tmp_path: Path) -> None:
    config = monitor_config(tmp_path / "plugins")
    config["plugins"]["echo"]["schedules"] = [{"id": "tick", "every": "1h"}]
    gw = gateway_factory(config)
    app = MonitorApp(MonitorClient(gw.url, gw.token), poll_interval=1.0, reconnect_max=0.5, health_interval=0.5)
    async with app.run_test(size=SIZE) as pilot:
        table = app.main.query_one(ScheduleTable)
        await until(pilot, lambda: table.row_count == 1 and app.schedules, what="schedule row")
        await pilot.press("P")
        await until(pilot, lambda: _entry(gw)["entry_status"] == "paused_manual", what="paused via P")
        assert _entry(gw)["paused_by"] == "admin"
        await until(pilot, lambda: str(table.get_row_at(0)[3]) == "paused_manual", what="panel shows paused")
        before = _entry(gw)["last_job_id"]
        await pilot.press("R")
        jobs = lambda: httpx.get(  # noqa: E731
            f"{gw.url}/jobs", params={"plugin": "echo"}, headers={"Authorization": f"Bearer {gw.token}"}, timeout=10
        ).json()["jobs"]
        await until(pilot, lambda: len([j for j in jobs() if j["job_id"] != before]) >= 1, what="run-now job")
        await pilot.press("P")
        await until(pilot, lambda: _entry(gw)["entry_status"] == "active", what="resumed via P")
