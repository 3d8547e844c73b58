"""The job detail's keys against a real gateway: `y` retries the job shown (the new job opens,
linked by retry_of), `k` cancels a running one (its process is killed; the job ends dead)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from conftest import enqueue, make_plugin, wait_for
from monitor_helpers import monitor_config, until

from ductile.monitor.app import MonitorApp
from ductile.monitor.client import MonitorClient
from ductile.monitor.screens.detail import JobDetailScreen

SIZE = (120, 40)


def _job(gw: Any, job_id: str) -> dict[str, Any]:
    return httpx.get(f"{gw.url}/job/{job_id}", headers={"Authorization": f"Bearer {gw.token}"}, timeout=10).json()


async def test_retry_and_cancel_keys_in_the_job_detail(gateway_factory: Any, tmp_path: Path) -> None:
    root = tmp_path / "plugins"
    config = monitor_config(root)
    make_plugin(root, "slow", '#!/usr/bin/env bash\ncat >/dev/null\nsleep 60\necho \'{"status":"ok"}\'\n')
    config["plugins"]["slow"] = {"timeout": "5m"}
    gw = gateway_factory(config)
    done = enqueue(gw.url, gw.token, "echo", "poll")
    wait_for(lambda: _job(gw, done)["status"] == "succeeded", timeout=60)
    app = MonitorApp(MonitorClient(gw.url, gw.token), poll_interval=1.0, reconnect_max=0.5, health_interval=0.5)
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(JobDetailScreen(done))
        await pilot.pause()
        await pilot.press("y")
        await until(pilot, lambda: _job(gw, done).get("retried_by"), what="a retry of the job")
        [again] = _job(gw, done)["retried_by"]
        assert _job(gw, again)["retry_of"] == done
        await until(
            pilot,
            lambda: isinstance(app.screen, JobDetailScreen) and app.screen.job_id == again,
            what="the retry's detail opened",
        )
        slow = enqueue(gw.url, gw.token, "slow", "poll")
        wait_for(lambda: _job(gw, slow)["status"] == "running", timeout=60)
        app.push_screen(JobDetailScreen(slow))
        await pilot.pause()
        await pilot.press("k")
        await until(pilot, lambda: _job(gw, slow)["status"] == "dead", what="the slow job cancelled")
