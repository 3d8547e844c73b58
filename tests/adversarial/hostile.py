"""The shared gateway and raw-socket helpers of the hostile-request suite (tests/adversarial).

One real gateway per test module, configured with short HTTP limits so the slow-client cases
finish in seconds; its whole log must be JSON lines when it stops (finding 9).
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import ADMIN_TOKEN, GatewayProcess, base_config, free_port, make_plugin, write_config

ECHO = """\
#!/usr/bin/env python3
import json, sys
req = json.load(sys.stdin)
print(json.dumps({"status": "ok", "result": {"command": req["command"], "payload": req.get("payload")}}))
"""

COMMANDS = [
    {"name": "poll", "type": "read"},
    {"name": "handle", "type": "write"},
    {
        "name": "store",
        "type": "write",
        "input_schema": {"type": "object", "properties": {"count": {"type": "integer"}}, "required": ["count"]},
    },
]

LIMITS = {
    "idle_timeout": "1s",
    "read_timeout": "5s",  # short for the slow-client tests, long enough for a 20 MB upload under load
    "max_header_count": 50,
    "max_header_bytes": 8192,
    "max_url_bytes": 2048,
}

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
UNKNOWN_JOB = "00000000-0000-0000-0000-000000000000"


def start_hostile(root: Path, api_extra: dict[str, Any] | None = None) -> GatewayProcess:
    plugin_root = root / "plugins"
    make_plugin(plugin_root, "alpha", ECHO, commands=COMMANDS)
    port = free_port()
    config = base_config([plugin_root], {"alpha": {}}, port=port)
    config["api"].update(LIMITS | (api_extra or {}))
    write_config(root / "gw", config)
    return GatewayProcess(root / "gw", port=port).start()


def assert_all_json(gw: GatewayProcess) -> None:
    lines = [line for line in gw.log().splitlines() if line.strip()]
    assert lines, "the gateway wrote nothing"
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise AssertionError(f"log line is not JSON: {line[:300]!r}")
        assert isinstance(record, dict) and {"ts", "level", "msg"} <= set(record), line[:300]


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    # Every warning any library raises is shown, so each one must reach the log as JSON too.
    saved = os.environ.get("PYTHONWARNINGS")
    os.environ["PYTHONWARNINGS"] = "always"
    try:
        gateway = start_hostile(tmp_path_factory.mktemp("hostile"))
    finally:
        if saved is None:
            del os.environ["PYTHONWARNINGS"]
        else:
            os.environ["PYTHONWARNINGS"] = saved
    yield gateway
    assert gateway.stop() == 0
    assert_all_json(gateway)  # finding 9: the whole barrage left only JSON lines


@pytest.fixture(scope="module")
def acknowledged(gw: GatewayProcess) -> list[str]:
    """Jobs accepted before the barrage; `test_acknowledged_jobs_survive` checks each still exists."""
    ids = []
    for i in range(3):
        response = httpx.post(f"{gw.url}/plugin/alpha/poll", json={"payload": {"i": i}}, headers=AUTH, timeout=10)
        assert response.status_code == 202
        ids.append(response.json()["job_id"])
    return ids


def error(response: httpx.Response, status: int, *needles: str) -> str:
    assert response.status_code == status, f"{response.status_code} {response.text[:300]}"
    assert response.headers["content-type"].startswith("application/json")
    message = response.json()["error"]
    for needle in needles:
        assert needle in message, message
    return message


def auth_line() -> str:
    return f"Authorization: Bearer {ADMIN_TOKEN}\r\n"


def raw_request(port: int | None, request: str | bytes, *, timeout: float = 15.0) -> bytes:
    """Send `request` on a fresh connection and read until the server closes or a full response."""
    assert port is not None
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(request.encode() if isinstance(request, str) else request)
        except OSError as exc:
            raise AssertionError(f"the server reset the connection instead of answering: {exc}")
        return read_response(sock)


def read_response(sock: socket.socket) -> bytes:
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
        head, sep, body = data.partition(b"\r\n\r\n")
        if sep:
            length = [
                int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
            ]
            if length and len(body) >= length[0]:
                return data


def status_and_error(response: bytes) -> tuple[int, str]:
    head, _, body = response.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head.lower(), response[:300]
    return int(head.split(b" ", 2)[1]), json.loads(body)["error"]


def terminal(gw: GatewayProcess, job_id: str) -> dict[str, Any] | None:
    body = httpx.get(f"{gw.url}/job/{job_id}", headers=AUTH, timeout=10).json()
    return body if body["status"] in ("succeeded", "failed", "dead", "timed_out") else None
