"""GET /events against a real gateway: order, resume, gap, heartbeats, scope, a stalled client."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import httpx
import pytest
from conftest import ADMIN_TOKEN, enqueue
from sse_helpers import EVENTS_TOKEN, JOBS_TOKEN, collect, sse_config, wait_jobs_done

from ductile.api.routers.events import stream
from ductile.events import EventHub
from ductile.monitor.client import ApiRefused, MonitorClient

ECHO_EVERY_SECOND = {"echo": {"schedules": [{"id": "tick", "every": "1s"}]}}


@pytest.fixture
def fast_heartbeat(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUCTILE_SSE_HEARTBEAT", "0.2")


def _job_events(events: list[Any], job_id: str) -> list[str]:
    return [e.type for e in events if e.data.get("data", {}).get("job_id") == job_id]


async def test_events_arrive_in_order_with_increasing_ids(gateway_factory: Any, fast_heartbeat: None) -> None:
    gw = gateway_factory(sse_config(ECHO_EVERY_SECOND))
    client = MonitorClient(gw.url, EVENTS_TOKEN)
    try:

        def one_job_done(seen: list[Any]) -> bool:
            fired = [e.data["data"]["job_id"] for e in seen if e.type == "scheduler.fired"]
            return bool(fired) and "poll.completed" in _job_events(seen, fired[0])

        events = await collect(client, one_job_done)
    finally:
        await client.aclose()
    assert events[0].type == "stream.open" and events[0].id is None
    job_id = next(e.data["data"]["job_id"] for e in events if e.type == "scheduler.fired")
    # ours, then Ductile's names for the same moments (scheduler.scheduled, poll.*, job.completed)
    assert _job_events(events, job_id)[:7] == [
        "scheduler.fired",
        "scheduler.scheduled",
        "job.queued",
        "job.started",
        "poll.started",
        "job.succeeded",
        "job.completed",
    ]
    ids = [e.id for e in events if e.id is not None]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    for event in events[1:]:
        assert event.data["id"] == event.id and event.data["type"] == event.type and event.data["at"].endswith("Z")


async def test_resume_with_last_event_id_has_no_gaps(gateway_factory: Any, fast_heartbeat: None) -> None:
    gw = gateway_factory(sse_config(ECHO_EVERY_SECOND))
    client = MonitorClient(gw.url, ADMIN_TOKEN)
    try:
        first = await collect(client, lambda seen: sum(e.id is not None for e in seen) >= 3)
        cut = [e.id for e in first if e.id is not None][1]
        await asyncio.sleep(1.5)  # more events happen while we are away
        resumed = await collect(client, lambda seen: sum(e.id is not None for e in seen) >= 6, last_id=cut)
    finally:
        await client.aclose()
    assert resumed[0].type == "stream.open" and resumed[0].data["resumed_from"] == cut
    assert not any(e.type == "stream.gap" for e in resumed)
    ids = [e.id for e in resumed if e.id is not None]
    assert ids == list(range(cut + 1, cut + 1 + len(ids)))


async def test_unknown_last_event_id_says_gap(gateway_factory: Any, fast_heartbeat: None) -> None:
    gw = gateway_factory(sse_config({"echo": {}}))
    client = MonitorClient(gw.url, ADMIN_TOKEN)
    try:
        events = await collect(client, lambda seen: any(e.type == "stream.gap" for e in seen), last_id=10**9)
    finally:
        await client.aclose()
    gap = next(e for e in events if e.type == "stream.gap")
    assert "restarted" in gap.data["reason"]


def test_heartbeat_and_headers(gateway_factory: Any, fast_heartbeat: None) -> None:
    gw = gateway_factory(sse_config({"echo": {}}))
    headers = {"Authorization": f"Bearer {EVENTS_TOKEN}"}
    with httpx.stream("GET", f"{gw.url}/events", headers=headers, timeout=10) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        deadline = time.monotonic() + 5
        for line in response.iter_lines():
            if line.startswith(": keepalive"):
                break
            assert time.monotonic() < deadline, "no heartbeat"


def test_scope_is_enforced(gateway_factory: Any) -> None:
    gw = gateway_factory(sse_config({"echo": {}}))
    assert httpx.get(f"{gw.url}/events", timeout=5).status_code == 401
    bad = httpx.get(f"{gw.url}/events", headers={"Authorization": "Bearer nope"}, timeout=5)
    assert bad.status_code == 401 and "error" in bad.json()
    wrong = httpx.get(f"{gw.url}/events", headers={"Authorization": f"Bearer {JOBS_TOKEN}"}, timeout=5)
    assert wrong.status_code == 403 and "events:ro" in wrong.json()["error"]
    junk = httpx.get(
        f"{gw.url}/events", headers={"Authorization": f"Bearer {EVENTS_TOKEN}", "Last-Event-ID": "x"}, timeout=5
    )
    assert junk.status_code == 400 and "Last-Event-ID" in junk.json()["error"]


async def test_client_reports_refusal(gateway_factory: Any) -> None:
    gw = gateway_factory(sse_config({"echo": {}}))
    client = MonitorClient(gw.url, JOBS_TOKEN)
    try:
        with pytest.raises(ApiRefused) as info:
            await collect(client, lambda seen: True)
    finally:
        await client.aclose()
    assert info.value.status == 403


def test_stalled_client_does_not_delay_jobs(gateway_factory: Any) -> None:
    """A client that connects and never reads must not hold up the dispatcher."""
    gw = gateway_factory(sse_config({"echo": {}}))
    stalled = []
    for _ in range(3):
        sock = socket.create_connection(("127.0.0.1", gw.port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(f"GET /events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {EVENTS_TOKEN}\r\n\r\n".encode())
        stalled.append(sock)
    try:
        jobs = [enqueue(gw.url, ADMIN_TOKEN, "echo", "poll") for _ in range(40)]
        took = wait_jobs_done(gw.url, ADMIN_TOKEN, jobs, timeout=60)
        start = time.monotonic()
        assert httpx.get(f"{gw.url}/healthz", timeout=5).status_code == 200
        assert time.monotonic() - start < 2.0
    finally:
        for sock in stalled:
            sock.close()
    assert took < 60


def _frames(chunks: list[bytes]) -> list[str]:
    return [
        line.removeprefix("event: ") for c in chunks for line in c.decode().splitlines() if line.startswith("event:")
    ]


async def test_stream_tells_a_lagging_subscriber_and_ends() -> None:
    hub = EventHub(replay_size=100, queue_size=3)
    body = stream(hub, None, boot="b", heartbeat=10)
    chunks = [await anext(body), await anext(body)]  # retry + stream.open; now subscribed
    for n in range(10):
        hub.publish("job.queued", {"n": n})
    chunks += [chunk async for chunk in body]
    frames = _frames(chunks)
    assert frames[0] == "stream.open" and frames[-1] == "stream.lagged"
    assert hub.subscriber_count == 0


async def test_stream_says_gap_when_replay_buffer_lost_events() -> None:
    hub = EventHub(replay_size=3, queue_size=10)
    for n in range(10):
        hub.publish("job.queued", {"n": n})
    body = stream(hub, 2, boot="b", heartbeat=10)
    chunks = [await anext(body) for _ in range(4)]  # retry, open, gap, the 3 replayed in one page
    with pytest.raises(TimeoutError):  # nothing else is due: the live tail waits
        await asyncio.wait_for(anext(body), timeout=0.3)
    await body.aclose()
    assert _frames(chunks) == ["stream.open", "stream.gap", "job.queued", "job.queued", "job.queued"]
    assert b"id: 8" in chunks[3]


async def test_a_reading_client_keeps_up_with_a_burst_larger_than_one_flush() -> None:
    """Thousands of events inside one flush interval (a POST burst) must not cut off a client that reads."""
    hub = EventHub()
    body = stream(hub, None, boot="b", heartbeat=10)
    chunks = [await anext(body), await anext(body)]  # retry + stream.open; now subscribed
    for n in range(3000):
        hub.publish("job.queued", {"n": n})
    while sum(c.count(b"event: job.queued") for c in chunks) < 3000:
        chunks.append(await asyncio.wait_for(anext(body), timeout=5))
    await body.aclose()
    frames = _frames(chunks)
    assert "stream.lagged" not in frames and frames.count("job.queued") == 3000
