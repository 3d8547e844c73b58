"""Skipped slots survive a restart: the scheduler stores every skip (schedule_skips), so after the
gateway restarts the run strip still says "skipped" for slots the scheduler skipped, rather than
"missed" (real gateway, real plugin processes, real HTTP; no browser needed)."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx

from ui import rig

# One job that holds its slot for 30 s while a new slot comes every 2 s: with `if_running: skip`
# every later slot is skipped (reason already_running) until the job ends.
HOLD = {
    "hold": {
        "uses": "work",
        "timeouts": {"poll": "60s"},
        "retry": {"max_attempts": 1},
        "schedules": [{"id": "hold", "every": "2s", "payload": {"sleep": 30}, "if_running": "skip"}],
    }
}
CELL = re.compile(r'<li class="cell-\w+" data-state="(\w+)" title="([^"]+)"')


def _strip(gw: Any) -> dict[str, str]:
    """The hold schedule's run strip on the overview, as {slot time: state}, over a real sign-in."""
    with httpx.Client(base_url=gw.url, timeout=10) as client:
        nonce = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/ui/login").text).group(1)
        signed_in = client.post("/ui/login", data={"token": rig.TOKENS["admin"][0], "csrf_token": nonce})
        assert signed_in.status_code == 303, signed_in.text[:300]
        page = client.get("/ui")
        assert page.status_code == 200
    card = page.text[page.text.index('data-schedule="hold/hold"') :]
    card = card[: card.index("</ol>")]
    return {title.split(" UTC: ")[0]: state for state, title in CELL.findall(card)}


def test_a_skipped_slot_still_shows_as_skipped_after_a_gateway_restart(tmp_path: Any) -> None:
    gw = rig.start_ui_gateway(tmp_path, plugins=HOLD)
    try:
        deadline = time.monotonic() + 40
        before: dict[str, str] = {}
        while time.monotonic() < deadline:
            before = _strip(gw)
            if list(before.values()).count("skipped") >= 2:
                break
            time.sleep(0.5)
        skipped = [slot for slot, state in before.items() if state == "skipped"]
        assert len(skipped) >= 2, before
    finally:
        gw.stop()
    # a new process: the event hub (and its replay buffer) starts empty
    gw.start()
    try:
        after = _strip(gw)
        for slot in skipped:
            assert after.get(slot) == "skipped", (slot, before, after)
    finally:
        gw.stop()
