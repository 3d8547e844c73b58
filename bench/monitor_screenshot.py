"""Regenerate docs/monitor.svg: a real gateway on a temp config, a few jobs, one Pilot screenshot.

.venv/bin/python bench/monitor_screenshot.py
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "monitor"))

from api_calls import enqueue  # noqa: E402
from conftest import GatewayProcess, write_config  # noqa: E402
from monitor_helpers import monitor_config  # noqa: E402

from ductile.monitor.app import MonitorApp  # noqa: E402
from ductile.monitor.client import MonitorClient  # noqa: E402


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config = monitor_config(root / "plugins", schedules=True)
        config["plugins"]["grumpy"]["schedules"] = [{"id": "nightly", "cron": "0 3 * * *", "timezone": "Europe/Berlin"}]
        write_config(root / "gw", config)
        gw = GatewayProcess(root / "gw", port=int(config["api"]["listen"].rsplit(":", 1)[1])).start()
        try:
            for _ in range(3):
                enqueue(gw.url, gw.token, "grumpy", "poll")
                enqueue(gw.url, gw.token, "echo", "say", {"text": "hi"})
            app = MonitorApp(MonitorClient(gw.url, gw.token), poll_interval=1.0)
            async with app.run_test(size=(120, 34)) as pilot:
                await pilot.pause(4.0)
                app.render_tables()
                await pilot.pause()
                app.save_screenshot("monitor.svg", str(REPO / "docs"))
        finally:
            gw.stop()


if __name__ == "__main__":
    asyncio.run(main())
