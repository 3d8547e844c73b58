"""A real gateway for the API tests: one per test module, plugins that finish instantly, a token
per scope, and a way to seed job rows with chosen statuses and timestamps straight into SQLite."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ADMIN_TOKEN, GatewayProcess, base_config, free_port, make_plugin, write_config

# Ductile's whole vocabulary (config_compat.KNOWN_SCOPES minus "*"), plus one it does not know.
SCOPES = [
    "plugin:ro",
    "plugin:rw",
    "plugin:catalog:ro",
    "plugin:invoke:ro",
    "jobs:ro",
    "jobs:rw",
    "jobs:status:ro",
    "jobs:tree:ro",
    "jobs:logs:ro",
    "jobs:result:ro",
    "events:ro",
    "events:rw",
    "events:meta:ro",
    "events:payload:ro",
    "system:ro",
    "system:rw",
    "made:up:scope",
]


def scope_token(scope: str) -> str:
    return "tok-" + scope.replace(":", "-") + "-0123456789"


PLUGIN = """\
#!/usr/bin/env python3
import json, sys
req = json.load(sys.stdin)
print(json.dumps({"status": "ok", "result": {"command": req["command"], "payload": req.get("payload")}}))
"""

COMMANDS = [
    {"name": "poll", "type": "read", "description": "read something"},
    {"name": "handle", "type": "write"},
    {
        "name": "store",
        "type": "write",
        "description": "needs a count",
        "input_schema": {
            "type": "object",
            "properties": {"count": {"type": "integer", "minimum": 0}, "tag": {"type": "string"}},
            "required": ["count"],
            "additionalProperties": False,
        },
    },
]


def start_gateway(root: Path, *, plugins: dict[str, Any] | None = None, **extra: Any) -> GatewayProcess:
    plugin_root = root / "plugins"
    make_plugin(plugin_root, "alpha", PLUGIN, commands=COMMANDS)
    port = free_port()
    tokens = [{"name": "admin", "token": ADMIN_TOKEN, "scopes": ["*"]}]
    tokens += [{"name": s, "token": scope_token(s), "scopes": [s]} for s in SCOPES]
    config = base_config(
        [plugin_root],
        plugins if plugins is not None else {"alpha": {}, "beta": {"uses": "alpha"}},
        port=port,
        **extra,
    )
    config["api"]["auth"] = {"tokens": tokens}
    config["api"]["max_body_bytes"] = 4096
    directory = root / "gw"
    write_config(directory, config)
    return GatewayProcess(directory, port=port).start()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    gw = start_gateway(tmp_path_factory.mktemp("api"))
    yield gw
    gw.stop()


def seed(db_path: Path, rows: list[dict[str, Any]]) -> list[str]:
    """Insert job rows directly (the job_counts triggers still run). Queued rows get a far-future
    retry time so the live dispatcher leaves them alone."""
    ids = []
    with sqlite3.connect(db_path, timeout=10) as db:
        for row in rows:
            job_id = row.get("job_id") or str(uuid.uuid4())
            status = row.get("status", "succeeded")
            created = row["created_at"]
            db.execute(
                "INSERT INTO jobs (job_id, plugin, command, payload, status, attempt, max_attempts, submitted_by,"
                " created_at, started_at, completed_at, next_retry_at, last_error)"
                " VALUES (?, ?, ?, NULL, ?, ?, 3, ?, ?, ?, ?, ?, ?)",
                (
                    job_id,
                    row.get("plugin", "seeded"),
                    row.get("command", "poll"),
                    status,
                    row.get("attempt", 1),
                    row.get("submitted_by", "scheduler"),
                    created,
                    None if status == "queued" else created,
                    None if status in ("queued", "running") else created,
                    "2999-01-01T00:00:00.000000Z" if status == "queued" else None,
                    row.get("last_error", "boom" if status in ("failed", "dead", "timed_out") else None),
                ),
            )
            ids.append(job_id)
    return ids


def stamp(day: int, second: int = 0, micro: int = 0) -> str:
    return f"2020-01-{day:02d}T00:00:{second:02d}.{micro:06d}Z"
