"""The webhook listener on its own thread and event loop (`ductile.webhooks.serving`).

An in-process gateway (real config, real SQLite file, real plugin process, real HTTP on
loopback) whose event loop the test blocks on purpose: a delivery must still be answered 202 and
stored while the gateway's loop cannot run, and its announcement (`job.queued`, then one
dispatcher wake-up) must come on the gateway's loop once it runs again — asserted by the order of
what happened, not by how long anything took.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sqlite3
import threading
from pathlib import Path
from typing import Any

import httpx
from conftest import base_config, free_port, write_config

from ductile.gateway import Gateway, prepare
from ductile.webhooks.serving import THREAD_NAME, WRITER_NAME
from tests.acceptance.pipeline_rig import TEST_PLUGINS, recorder
from tests.webhooks.rig import endpoint, sign

ANSWER_TIMEOUT = 20.0  # a listener stuck behind the blocked loop would hit this and fail the test


def build(tmp_path: Path) -> tuple[Gateway, int]:
    hook_port = free_port()
    config = base_config(
        [TEST_PLUGINS],
        {"site": recorder(tmp_path / "rec")},
        webhooks={"listen": f"127.0.0.1:{hook_port}", "endpoints": [endpoint("/hooks/site", "site")]},
    )
    write_config(tmp_path / "cfg", config)
    return Gateway(prepare(str(tmp_path / "cfg")), api=False), hook_port


def queued_ids(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [r[0] for r in conn.execute("SELECT job_id FROM jobs ORDER BY created_at, rowid")]


def listener_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name in (THREAD_NAME, WRITER_NAME)]


def test_deliveries_are_answered_while_the_gateway_loop_is_blocked(tmp_path: Path) -> None:
    gateway, port = build(tmp_path)
    db = gateway.setup.loaded.db_path
    order: list[tuple[str, Any]] = []  # what happened, in the order it happened
    answers: list[httpx.Response] = []
    seen_while_blocked: dict[str, Any] = {}

    def deliver_while_blocked(release: threading.Event) -> None:
        try:
            with httpx.Client(timeout=ANSWER_TIMEOUT) as client:
                for n in range(3):
                    body = json.dumps({"n": n}).encode()
                    answers.append(
                        client.post(f"http://127.0.0.1:{port}/hooks/site", content=body, headers={"X-Sig": sign(body)})
                    )
            seen_while_blocked["stored"] = queued_ids(db)
            seen_while_blocked["events"] = [e.type for e in gateway.hub.replay_since(0)[0]]
        finally:
            release.set()

    async def scenario() -> None:
        ready = asyncio.Event()
        running = asyncio.create_task(gateway.run(ready=ready))
        await asyncio.wait_for(ready.wait(), 30)
        assert gateway.dispatcher is not None
        wake = gateway.dispatcher.wake

        def recording_wake() -> None:
            order.append(("wake", None))
            wake()

        gateway.dispatcher.wake = recording_wake  # type: ignore[method-assign]
        gateway.hub.taps.append(lambda e: order.append((e.type, e.data.get("job_id"))))
        release = threading.Event()
        threading.Thread(target=deliver_while_blocked, args=(release,)).start()
        release.wait(ANSWER_TIMEOUT * 4)  # blocks the gateway's loop until the deliveries are answered
        order.append(("loop released", None))
        while not any(kind == "job.started" for kind, _ in order):
            await asyncio.sleep(0.02)
        assert gateway.stop_event is not None
        gateway.stop_event.set()
        await asyncio.wait_for(running, 60)

    asyncio.run(scenario())

    assert [a.status_code for a in answers] == [202, 202, 202], [a.text for a in answers]
    ids = [a.json()["job_id"] for a in answers]
    # stored (in the order sent) while the gateway's loop could not run, and not announced yet:
    assert seen_while_blocked["stored"] == ids
    assert "job.queued" not in seen_while_blocked["events"]
    # once the loop runs: one hand-off, the three job.queued in commit order, then one wake-up,
    # then the dispatcher starts the first of them
    kinds = [kind for kind, _ in order]
    assert kinds[:5] == ["loop released", "job.queued", "job.queued", "job.queued", "wake"], order
    assert [job for kind, job in order if kind == "job.queued"] == ids
    assert next(job for kind, job in order if kind == "job.started") == ids[0]
    # shut down cleanly: the listener's thread is gone and its port is free again
    assert listener_threads() == []
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_stop_finishes_with_the_listener_thread_and_its_port(tmp_path: Path) -> None:
    """Start and stop twice in one process: nothing of the first listener is left behind."""
    for _ in range(2):
        gateway, port = build(tmp_path / f"run{_}")

        async def scenario(gateway: Gateway = gateway, port: int = port) -> None:
            ready = asyncio.Event()
            running = asyncio.create_task(gateway.run(ready=ready))
            await asyncio.wait_for(ready.wait(), 30)
            assert len(listener_threads()) == 2  # the listener's loop and its writer
            body = b'{"ping":true}'
            async with httpx.AsyncClient(timeout=ANSWER_TIMEOUT) as client:
                answer = await client.post(
                    f"http://127.0.0.1:{port}/hooks/site", content=body, headers={"X-Sig": sign(body)}
                )
            assert answer.status_code == 202
            assert gateway.stop_event is not None
            gateway.stop_event.set()
            await asyncio.wait_for(running, 60)

        asyncio.run(scenario())
        assert gateway.exit_code == 0 and gateway.failure is None
        assert listener_threads() == []
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))
