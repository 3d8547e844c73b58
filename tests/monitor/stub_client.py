"""A canned stand-in for MonitorClient so snapshots are byte-for-byte deterministic."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from ductile.monitor.client import SseEvent

NOW = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)


def _job(n: int, plugin: str, command: str, status: str, created: str, **extra: Any) -> dict[str, Any]:
    return {
        "job_id": f"{n:08x}-0000-4000-8000-000000000000",
        "plugin": plugin,
        "command": command,
        "status": status,
        "attempt": extra.pop("attempt", 1),
        "created_at": f"2026-11-29T{created}.000000Z",
        **extra,
    }


JOBS = [
    _job(
        1,
        "echo",
        "poll",
        "succeeded",
        "11:58:00",
        started_at="2026-11-29T11:58:00.100000Z",
        completed_at="2026-11-29T11:58:00.180000Z",
    ),
    _job(
        2,
        "grumpy",
        "poll",
        "failed",
        "11:58:30",
        started_at="2026-11-29T11:58:30.100000Z",
        completed_at="2026-11-29T11:58:31.300000Z",
    ),
    _job(
        3,
        "fetch",
        "sync",
        "dead",
        "11:59:00",
        attempt=4,
        started_at="2026-11-29T11:59:00.000000Z",
        completed_at="2026-11-29T11:59:02.000000Z",
    ),
    _job(4, "fetch", "sync", "running", "11:59:50", started_at="2026-11-29T11:59:51.000000Z"),
    _job(5, "echo", "say", "queued", "11:59:58"),
]

SCHEDULES = [
    {
        "instance": "echo",
        "schedule_id": "tick",
        "command": "poll",
        "status": "waiting",
        "spec": {"every": "5m", "jitter": "30s"},
        "last_fired": "2026-11-29T11:58:00.000000Z",
        "last_outcome": "succeeded",
        "last_job_id": JOBS[0]["job_id"],
        "next_due": "2026-11-29T12:03:00.000000Z",
        "breaker": {"state": "closed", "failure_count": 0, "opened_at": None},
        "health": {"state": "ok", "reason": "on schedule", "consecutive_failures": 0},
    },
    {
        "instance": "fetch",
        "schedule_id": "nightly",
        "command": "sync",
        "status": "running",
        "spec": {"cron": "0 3 * * *", "timezone": "Europe/Berlin"},
        "last_fired": "2026-11-29T11:59:50.000000Z",
        "last_outcome": "running",
        "last_job_id": JOBS[3]["job_id"],
        "next_due": "2026-11-30T02:00:00.000000Z",
        "breaker": {"state": "open", "failure_count": 3, "opened_at": "2026-11-29T11:40:00.000000Z"},
        "health": {"state": "failing", "reason": "the last 3 runs failed", "consecutive_failures": 3},
    },
]

DETAIL = {
    **JOBS[1],
    "max_attempts": 4,
    "submitted_by": "api",
    "payload": {"city": "Berlin"},
    "last_error": "grumpy says no",
    "transitions": [],
}
ATTEMPTS = [
    {
        "attempt": 1,
        "outcome": "error",
        "status": "failed",
        "duration_ms": 1200.0,
        "exit_code": 0,
        "error": "grumpy says no",
        "result": None,
        "logs": [{"level": "info", "message": "looked at Berlin"}],
        "stderr": "grumpy-stderr-marker: refusing politely\n",
    }
]


# Job 4 as a pipeline step: parent job 1, one event that started two children, plus a hook child.
LINEAGE_DETAIL = {
    **JOBS[3],
    "max_attempts": 4,
    "submitted_by": "route",
    "payload": {"type": "repo.go", "payload": {"repo": "ductile"}},
    "transitions": [],
    "parent_job_id": JOBS[0]["job_id"],
    "pipeline": "tidy-mirror",
    "step_id": "sync",
    "events": [
        {
            "event_id": "e0000001-0000-4000-8000-000000000000",
            "type": "repo.synced",
            "payload": {"path": "/m/o/r"},
            "created_at": "2026-11-29T11:59:55.000000Z",
            "children": ["c0000001-0000-4000-8000-000000000000", "c0000002-0000-4000-8000-000000000000"],
        },
        {
            "event_id": "e0000002-0000-4000-8000-000000000000",
            "type": "repo.unchanged",
            "payload": None,
            "created_at": "2026-11-29T11:59:56.000000Z",
            "children": [],
        },
    ],
    "children": [
        {
            "job_id": "c0000001-0000-4000-8000-000000000000",
            "plugin": "repo_policy",
            "command": "handle",
            "status": "succeeded",
            "pipeline": "tidy-mirror",
            "step_id": "policy",
        },
        {
            "job_id": "c0000002-0000-4000-8000-000000000000",
            "plugin": "notes",
            "command": "handle",
            "status": "running",
            "pipeline": "notes-feed",
            "step_id": "step_1",
        },
        {
            "job_id": "c0000003-0000-4000-8000-000000000000",
            "plugin": "discord",
            "command": "handle",
            "status": "queued",
        },
    ],
}

PIPELINES = [
    {
        "name": "alert-failures",
        "on": None,
        "on_hook": "job.failed",
        "from_plugin": "fetch",
        "execution_mode": "async",
        "steps": ["step_1"],
        "last": None,
    },
    {
        "name": "notes-feed",
        "on": "repo.synced",
        "on_hook": None,
        "from_plugin": None,
        "execution_mode": "async",
        "steps": ["step_1", "step_2"],
        "last": {
            "instance_id": "9c3f0000-0000-4000-8000-000000000000",
            "job_id": "c0000002-0000-4000-8000-000000000000",
            "status": "running",
            "started_at": "2026-11-29T11:59:55.000000Z",
            "duration_ms": 5000.0,
            "job_count": 1,
        },
    },
    {
        "name": "tidy-mirror",
        "on": "repo.go",
        "on_hook": None,
        "from_plugin": None,
        "execution_mode": "synchronous",
        "steps": ["sync", "policy", "push__switch", "push"],
        "last": {
            "instance_id": "1a2b0000-0000-4000-8000-000000000000",
            "job_id": JOBS[3]["job_id"],
            "status": "failed",
            "started_at": "2026-11-29T11:59:50.000000Z",
            "completed_at": "2026-11-29T11:59:58.500000Z",
            "duration_ms": 8500.0,
            "job_count": 3,
        },
    },
]


class StubClient:
    base_url = "http://gateway.example:8080"

    async def health(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "uptime_seconds": 3723,
            "queue_depth": 1,
            "running": 1,
            "workers_busy": 1,
            "max_workers": 4,
            "plugins_loaded": 3,
            "plugins_circuit_open": 1,
            "version": "0.1.0",
        }

    async def jobs(self, **filters: Any) -> dict[str, Any]:
        return {"jobs": [dict(j) for j in JOBS], "total": len(JOBS)}

    async def schedules(self) -> dict[str, Any]:
        return {"schedules": SCHEDULES}

    async def job_detail(self, job_id: str) -> dict[str, Any]:
        return LINEAGE_DETAIL if job_id == LINEAGE_DETAIL["job_id"] else DETAIL

    async def pipelines(self) -> dict[str, Any]:
        return {"pipelines": PIPELINES}

    async def attempts(self, job_id: str) -> list[dict[str, Any]]:
        return ATTEMPTS

    async def plugin_state(self) -> dict[str, Any]:
        return {"states": {"echo": {"runs": 7, "api_key": "***"}}}

    async def event_batches(self, last_id: int | None = None, **_: Any) -> AsyncIterator[list[SseEvent]]:
        yield [SseEvent("stream.open", {"last_id": 0, "boot": "b"})]
        await asyncio.Event().wait()  # a quiet, healthy stream
