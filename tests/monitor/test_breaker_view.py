"""How the monitor and `system status` show a breaker (pure rendering of API answers)."""

from __future__ import annotations

from ductile.monitor.status import render_text
from ductile.monitor.widgets.schedule_table import breaker_text


def test_breaker_text():
    assert breaker_text(None) == "—"  # a gateway older than the breaker
    assert breaker_text({"state": "closed", "failure_count": 0}) == "closed"
    assert breaker_text({"state": "closed", "failure_count": 1}) == "closed (1)"
    assert breaker_text({"state": "open", "failure_count": 3}) == "open (3)"
    assert breaker_text({"state": "half_open", "failure_count": 3}) == "half_open (3)"


def test_status_text_names_open_breakers_only():
    schedule = {
        "instance": "bad",
        "schedule_id": "default",
        "command": "poll",
        "spec": {"every": "1s"},
        "status": "skipped",
        "last_fired": None,
        "next_due": None,
    }
    health = {"version": "x", "uptime_seconds": 1, "queue_depth": 0, "plugins_loaded": 2, "plugins_circuit_open": 1}
    report = {
        "api_url": "http://gw",
        "ok": True,
        "health": health,
        "schedules": [
            {**schedule, "breaker": {"state": "open", "failure_count": 2, "opened_at": "…"}},
            {**schedule, "instance": "good", "breaker": {"state": "closed", "failure_count": 0, "opened_at": None}},
        ],
    }
    text = render_text(report)
    assert "plugins 2  circuit open 1" in text
    [bad] = [line for line in text.splitlines() if "bad/default" in line]
    [good] = [line for line in text.splitlines() if "good/default" in line]
    assert bad.endswith("breaker open (2)") and "breaker" not in good
