"""Shared pieces for the pipeline acceptance tests: a real gateway over tests/plugins, read-only views
of its SQLite file, the recorder's request files, and a local HTTP stub standing in for a chat webhook.

Nothing here mocks the gateway: tests POST to its API, the plugins are real processes, and what the
tests assert is read back from the same database file the gateway writes.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import REPO, GatewayProcess, base_config, free_port, wait_for, write_config

TEST_PLUGINS = REPO / "tests" / "plugins"
REAL_PLUGINS = os.environ.get("DUCTILE_PLUGINS_DIR", "")
TERMINAL = ("succeeded", "failed", "timed_out", "dead", "skipped")
RW_TOKEN = "test-plugin-rw-token-0123456789"


@dataclass(frozen=True)
class Impl:
    """Which plugins play the ductile-plugins roles: our look-alikes, or the real plugins from an
    export of the public repository (opt-in: DUCTILE_PLUGINS_DIR=<export dir>)."""

    name: str
    uses: dict[str, str]
    roots: tuple[Path, ...] = ()

    def __call__(self, role: str) -> str:
        return self.uses[role]


OURS = Impl(
    "ours",
    {
        "git_repo_sync": "git_mirror",
        "repo_policy": "policy_tidy",
        "sqlite_change": "row_watch",
        "check_youtube": "link_check",
        "discord_notify": "chat_notify",
        "astro_rebuild_staging": "cmd_runner",
    },
)
REAL = Impl("real", {role: role for role in OURS.uses}, (Path(REAL_PLUGINS),) if REAL_PLUGINS else ())
IMPLS = [
    pytest.param(OURS, id="ours"),
    pytest.param(
        REAL,
        id="real",
        marks=pytest.mark.skipif(
            not REAL_PLUGINS, reason="opt-in: DUCTILE_PLUGINS_DIR=<export of ductile-plugins> runs the real plugins"
        ),
    ),
]


def recorder(record_dir: Path, **config: Any) -> dict[str, Any]:
    """An instance of the §10 recorder fixture that writes its requests into record_dir."""
    return {"uses": "recorder", "config": {"record_dir": str(record_dir), **config}}


class Gateways:
    """Gateways built on demand under one directory; `stop_all` kills whatever is still running."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.started: list[GatewayProcess] = []

    def start(
        self,
        plugins: dict[str, Any],
        pipelines: list[dict[str, Any]] | None,
        *,
        roots: list[Path] | None = None,
        service: dict[str, Any] | None = None,
        api: dict[str, Any] | None = None,
        edit: Callable[[dict[str, Any], str], None] | None = None,
        start: bool = True,
    ) -> GatewayProcess:
        """A gateway with the API on a free port, the admin token (`*`) and a `plugin:rw` token.
        `edit(config, api_url)` may change the config before it is written (plugins that call the API
        need the URL, which exists only once the port is chosen)."""
        port = free_port()
        config = base_config([TEST_PLUGINS, *(roots or [])], plugins, port=port, service=service or {})
        if pipelines is not None:
            config["pipelines"] = pipelines
        config["api"]["auth"]["tokens"].append({"name": "worker", "token": RW_TOKEN, "scopes": ["plugin:rw"]})
        config["api"].update(api or {})
        if edit is not None:
            edit(config, f"http://127.0.0.1:{port}")
        directory = self.root / f"gw{len(self.started)}"
        write_config(directory, config)
        gw = GatewayProcess(directory, port=port)
        self.started.append(gw)
        return gw.start() if start else gw

    def stop_all(self) -> None:
        for gw in self.started:
            gw.stop(signal.SIGKILL)


def rows(db: Path, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """Read the gateway's database (WAL mode: a reader never blocks the writer)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute(sql, params).fetchall()]
    finally:
        con.close()


def jobs(db: Path, where: str = "1 = 1", params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    return rows(db, f"SELECT * FROM jobs WHERE {where} ORDER BY created_at, rowid", params)


def job(db: Path, job_id: str) -> dict[str, Any]:
    [found] = jobs(db, "job_id = ?", (job_id,))
    return found


def settled(db: Path, *, at_least: int = 1) -> list[dict[str, Any]]:
    """All jobs terminal, at least `at_least` of them, and a second read a moment later agrees
    (a parent's children are written before the parent turns terminal, so this sees whole trees)."""
    first = jobs(db)
    if len(first) < at_least or any(j["status"] not in TERMINAL for j in first):
        return []
    time.sleep(0.3)
    second = jobs(db)
    if len(second) != len(first) or any(j["status"] not in TERMINAL for j in second):
        return []
    return second


def wait_settled(db: Path, *, at_least: int = 1, timeout: float = 60.0) -> list[dict[str, Any]]:
    return wait_for(lambda: settled(db, at_least=at_least), timeout=timeout, message=f"{at_least}+ jobs all terminal")


def stored_payload(row: dict[str, Any]) -> dict[str, Any]:
    return json.loads(row["payload"]) if row["payload"] else {}


def last_response(db: Path, job_id: str) -> dict[str, Any]:
    """The plugin's whole stdout object of the job's latest attempt."""
    found = rows(db, "SELECT response FROM attempts WHERE job_id = ? ORDER BY attempt DESC LIMIT 1", (job_id,))
    return json.loads(found[0]["response"]) if found and found[0]["response"] else {}


def recorded(record_dir: Path) -> dict[str, dict[str, Any]]:
    """job_id -> the request the recorder got on stdin."""
    if not record_dir.is_dir():
        return {}
    return {p.stem: json.loads(p.read_text()) for p in record_dir.glob("*.json")}


def context_row(db: Path, context_id: str) -> dict[str, Any]:
    [found] = rows(db, "SELECT * FROM event_contexts WHERE id = ?", (context_id,))
    found["accumulated"] = json.loads(found["accumulated"])
    return found


def post(gw: GatewayProcess, path: str, body: Any = None, token: str | None = None) -> httpx.Response:
    with gw.client(token) as client:
        return client.post(path, json=body if body is not None else {})


def warnings(gw: GatewayProcess) -> list[dict[str, Any]]:
    return [r for r in gw.log_records() if str(r.get("level", "")).lower().startswith("warn")]


class ChatStub:
    """A local HTTP server that records each POST body (the chat webhook a notify plugin posts to)."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                stub.bodies.append(json.loads(self.rfile.read(length) or b"{}"))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/webhook"

    @property
    def messages(self) -> list[str]:
        return [str(b.get("content")) for b in self.bodies]


@contextmanager
def chat_stub() -> Iterator[ChatStub]:
    stub = ChatStub()
    stub.thread.start()
    try:
        yield stub
    finally:
        stub.server.shutdown()
        stub.server.server_close()
