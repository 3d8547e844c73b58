"""Helpers for SSE tests: a gateway config with tokens of several scopes, and event collection."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
from conftest import BUNDLED_PLUGINS, base_config, free_port

from ductile.monitor.client import MonitorClient, SseEvent

EVENTS_TOKEN = "events-only-token-0123456789"
JOBS_TOKEN = "jobs-ro-token-0123456789"


def sse_config(plugins: dict[str, Any], roots: list[Path] | None = None) -> dict[str, Any]:
    config = base_config([BUNDLED_PLUGINS, *(roots or [])], plugins, port=free_port())
    config["api"]["auth"]["tokens"] += [
        {"name": "events", "token": EVENTS_TOKEN, "scopes": ["events:ro"]},
        {"name": "reader", "token": JOBS_TOKEN, "scopes": ["jobs:ro"]},
    ]
    return config


async def collect(
    client: MonitorClient, until: Any, *, last_id: int | None = None, timeout: float = 15.0
) -> list[SseEvent]:
    """Read the stream until `until(events)` is true; fail after `timeout` seconds."""
    seen: list[SseEvent] = []

    async def read() -> None:
        async for event in client.events(last_id):
            seen.append(event)
            if until(seen):
                return

    await asyncio.wait_for(read(), timeout)
    return seen


def wait_jobs_done(url: str, token: str, job_ids: list[str], timeout: float = 30.0) -> float:
    """Poll GET /job/{id} until every job is terminal; return seconds taken."""
    start = time.monotonic()
    pending = set(job_ids)
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=10) as http:
        while pending:
            assert time.monotonic() - start < timeout, f"{len(pending)} jobs not done after {timeout}s"
            for job_id in list(pending):
                if http.get(f"/job/{job_id}").json().get("status") not in ("queued", "running"):
                    pending.discard(job_id)
            if pending:
                time.sleep(0.05)
    return time.monotonic() - start
