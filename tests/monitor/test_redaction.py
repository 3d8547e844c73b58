"""The monitor applies the redaction rule itself too: a gateway that sends plaintext (one older
than the rule) still cannot make the detail or state screen display a credential."""

from __future__ import annotations

import time
from typing import Any

from stub_client import ATTEMPTS, DETAIL, NOW, StubClient
from textual.widgets import Static

from ductile.monitor.app import MonitorApp
from ductile.monitor.screens.detail import JobDetailScreen
from ductile.monitor.screens.state import PluginStateScreen

SECRETS = ["sek-payload", "sek-result", "sek-log", "sek-stderr", "sek-error", "sek-state", "sek-reason"]


class PlaintextGateway(StubClient):
    async def job_detail(self, job_id: str) -> dict[str, Any]:
        return {
            **DETAIL,
            "payload": {"city": "Berlin", "password": "sek-payload"},
            "last_error": "refresh failed: refresh_token=sek-error",
            "transitions": [{"from": "running", "to": "failed", "reason": "api_key=sek-reason", "at": "t"}],
        }

    async def attempts(self, job_id: str) -> list[dict[str, Any]]:
        return [
            {
                **ATTEMPTS[0],
                "error": "refresh failed: refresh_token=sek-error",
                "result": {"status": "ok", "state_updates": {"access_token": "sek-result", "runs": 2}},
                "logs": [{"level": "info", "message": "using Bearer sek-log"}],
                "stderr": "password: sek-stderr\n",
            }
        ]

    async def plugin_state(self) -> dict[str, Any]:
        return {"states": {"echo": {"runs": 7, "session": {"id": "sek-state"}}}}


def _text(app: MonitorApp) -> str:
    return "\n".join(str(w.render()) for w in app.screen.query(Static))


async def _until(pilot: Any, predicate: Any, what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if predicate():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_detail_and_state_screens_redact_what_the_gateway_did_not() -> None:
    app = MonitorApp(PlaintextGateway(), clock=lambda: NOW)
    async with app.run_test(size=(120, 60)) as pilot:
        await _until(pilot, lambda: app.connection == "live", "the main screen connected")
        await app.push_screen(JobDetailScreen(DETAIL["job_id"]))
        await _until(pilot, lambda: app.screen.query("#attempt-1-stderr"), "the detail screen")
        text = _text(app)
        assert [s for s in SECRETS if s in text] == []
        assert '"access_token": "***"' in text and '"runs": 2' in text and "Berlin" in text
        await pilot.press("escape")
        await app.push_screen(PluginStateScreen())
        await _until(pilot, lambda: '"runs"' in _text(app), "the state screen")
        text = _text(app)
        assert "sek-state" not in text and '"session": "***"' in text
