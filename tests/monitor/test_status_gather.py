"""`system status` reads each answer as the monitor's client reads it (monitor/status.gather).

It fetches through the CLI's ApiClient so that it can run on the start-up fast path, so these pin
what it made of every kind of answer when it went through the monitor's httpx client: a 5xx is
"unreachable", a 4xx a refusal with the gateway's `error` text (or the body as text), a refused
schedules list without a token says which scope to ask for, and the report's keys keep their order.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from ductile.monitor.status import exit_code, gather, render_text

HEALTH = {"status": "ok", "version": "9.9", "uptime_seconds": 4000, "queue_depth": 3, "plugins_loaded": 2}
SICK = {
    "instance": "b",
    "schedule_id": "u",
    "command": "run",
    "spec": {"every": "1h"},
    "status": "skipped",
    "health": {"state": "failing", "reason": "3 runs failed"},
}
# scenario → path → (status, body: JSON unless a str)
ANSWERS: dict[str, dict[str, tuple[int, Any]]] = {
    "ok": {"healthz": (200, HEALTH), "schedules": (200, {"schedules": []})},
    "sick": {"healthz": (200, HEALTH), "schedules": (200, {"schedules": [SICK]})},
    "degraded": {"healthz": (200, {**HEALTH, "status": "degraded", "reason": "db slow"})},
    "refused": {"healthz": (200, HEALTH), "schedules": (403, {"error": "missing scope jobs:ro"})},
    "refused_text": {"healthz": (200, HEALTH), "schedules": (403, "plain refusal")},
    "schedules_5xx": {"healthz": (200, HEALTH), "schedules": (500, {"error": "boom"})},
    "health_5xx": {"healthz": (503, {"error": "down"})},
    "health_4xx_text": {"healthz": (404, "not here")},
}


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        scenario, _, last = self.path.strip("/").partition("/")
        status, body = ANSWERS[scenario].get(last, (404, {"error": "no route"}))
        raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


@pytest.fixture(scope="module")
def stub() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_healthy_gateway(stub: str) -> None:
    report = gather(f"{stub}/ok", "t")
    assert list(report) == ["api_url", "ok", "health", "schedules", "error", "unhealthy"]
    assert report["ok"] is True and report["schedules"] == [] and report["unhealthy"] == []
    assert exit_code(report) == 0


def test_an_unhealthy_schedule_exits_2(stub: str) -> None:
    report = gather(f"{stub}/sick", "t")
    assert report["unhealthy"] == ["b/u"] and exit_code(report) == 2
    assert "schedules: 1  UNHEALTHY: b/u" in render_text(report)


def test_a_degraded_gateway_exits_1(stub: str) -> None:
    report = gather(f"{stub}/degraded", "t")
    assert report["error"] == "gateway reports status 'degraded': db slow" and exit_code(report) == 1


@pytest.mark.parametrize(
    ("scenario", "token", "why"),
    [
        ("refused", "t", "missing scope jobs:ro"),
        ("refused_text", "t", "plain refusal"),
        ("refused", None, "no token given: schedules need jobs:ro"),
    ],
)
def test_a_refused_schedules_list_says_why(stub: str, scenario: str, token: str | None, why: str) -> None:
    report = gather(f"{stub}/{scenario}", token)
    assert report["schedules_error"] == why and report["ok"] is True and exit_code(report) == 0
    assert f"schedules: unavailable ({why})" in render_text(report)


@pytest.mark.parametrize(
    ("scenario", "error"),
    [
        ("health_5xx", "gateway unreachable: /healthz: HTTP 503"),
        ("health_4xx_text", "gateway unreachable: 404: not here"),
        ("schedules_5xx", "gateway unreachable: /schedules: HTTP 500"),
    ],
)
def test_server_errors_and_refusals_of_health(stub: str, scenario: str, error: str) -> None:
    report = gather(f"{stub}/{scenario}", "t")
    assert report["error"] == error


def test_no_gateway_or_no_http_url_is_unreachable(stub: str) -> None:
    down = gather("http://127.0.0.1:9", None)
    assert down["error"].startswith("gateway unreachable: http://127.0.0.1:9: ") and exit_code(down) == 1
    assert render_text(down).startswith("✖ http://127.0.0.1:9: gateway unreachable: ")
    odd = gather("ftp://x", None)
    assert odd["error"] == (
        "gateway unreachable: invalid API URL 'ftp://x' (accepted: http://host:port or https://host:port)"
    )
