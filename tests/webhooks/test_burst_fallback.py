"""The webhook writer's fallback when a burst's transaction really fails (webhooks/serving.py).

An in-process gateway (real config, real store — a SQLite file or a PostgreSQL schema — real
HTTP on loopback). The test holds the database's write lock from another connection, sends one
delivery (the writer takes it alone and waits for the lock), then three more at once: they queue
up behind it and become ONE burst once the lock is released. One of the three is too big for the
database — SQLite's own length limit on that connection (`SQLITE_LIMIT_LENGTH`), a CHECK
constraint on PostgreSQL — so the burst's transaction fails for real, and the writer must answer
each delivery on its own: the bad one `500 {"error":"failed to enqueue job"}`, the two others 202
with their jobs stored exactly once, nothing lost, nothing duplicated.

And the fallback's guard for a burst whose error came after its commit, on a real store: jobs are
found by their pre-chosen ids, never inserted twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import base_config, free_port, write_config
from pgtest import fresh_schema, require_pg
from store.backends import backend_target, raw

from ductile.gateway import Gateway, prepare
from ductile.store import open_store
from ductile.store.webhooks import Delivery, WebhookJob
from ductile.webhooks.serving import _after_failed_burst
from tests.acceptance.pipeline_rig import TEST_PLUGINS, recorder
from tests.webhooks.rig import endpoint, sign

LIMIT = 32 * 1024  # bytes a stored value may have (the bad delivery's body is twice that)
TIMEOUT = 30.0


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def database(backend: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    if backend == "sqlite":
        yield {"path": str(tmp_path / "data" / "ductile.db")}
        return
    require_pg()
    with fresh_schema("whfb") as url:
        yield {"url": url}


@contextmanager
def write_lock(gateway: Gateway, backend: str) -> Iterator[None]:
    """Hold the database's write lock from another connection for the block's duration."""
    if backend == "sqlite":
        conn = sqlite3.connect(gateway.store.path, isolation_level=None)  # type: ignore[union-attr]
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    import psycopg

    with psycopg.connect(gateway.store.url) as conn, conn.transaction():  # type: ignore[union-attr]
        conn.execute("LOCK TABLE jobs IN SHARE ROW EXCLUSIVE MODE")  # blocks every insert into jobs
        yield


def limit_stored_size(gateway: Gateway, backend: str) -> None:
    """Make the database itself refuse a stored value longer than LIMIT."""
    store: Any = gateway.store
    if backend == "sqlite":
        with store._lock:
            store._db.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, LIMIT)
        return
    with store._tx() as db:
        db.execute(f"ALTER TABLE jobs ADD CONSTRAINT test_payload_size CHECK (length(payload) < {LIMIT})")


def writer_is_writing(gateway: Gateway) -> bool:
    """Whether the writer thread is inside `Writer._write` right now (blocked on the lock)."""
    frame = sys._current_frames().get(gateway.webhook_writer.thread.ident)
    while frame is not None:
        if frame.f_code.co_name == "_write":
            return True
        frame = frame.f_back
    return False


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.01)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_one_bad_delivery_in_a_failed_burst_gets_500_and_the_others_202(backend: str, tmp_path: Path) -> None:
    port = free_port()
    with database(backend, tmp_path) as db:
        config = base_config(
            [TEST_PLUGINS],
            {"site": recorder(tmp_path / "rec")},
            database=db,
            webhooks={"listen": f"127.0.0.1:{port}", "endpoints": [endpoint("/hooks/site", "site")]},
        )
        write_config(tmp_path / "cfg", config)
        gateway = Gateway(prepare(str(tmp_path / "cfg")), api=False)
        run_scenario(gateway, backend, port)


def run_scenario(gateway: Gateway, backend: str, port: int) -> None:
    url = f"http://127.0.0.1:{port}/hooks/site"
    bodies = {
        "first": b'{"n":"first"}',
        "good-1": b'{"n":"good-1"}',
        "bad": json.dumps({"n": "bad", "blob": "x" * (2 * LIMIT)}).encode(),
        "good-2": b'{"n":"good-2"}',
    }
    answers: dict[str, httpx.Response] = {}
    records = Records()
    target: list[Any] = []  # where the gateway's store is, to read it back after the gateway stopped

    def send(name: str) -> None:
        with httpx.Client(timeout=TIMEOUT) as client:
            answers[name] = client.post(url, content=bodies[name], headers={"X-Sig": sign(bodies[name])})

    def deliver() -> None:
        store: Any = gateway.store
        target.append(store.url if backend == "postgres" else store.path)
        limit_stored_size(gateway, backend)
        with write_lock(gateway, backend):
            first = threading.Thread(target=send, args=("first",))
            first.start()
            wait_for(lambda: writer_is_writing(gateway), "the writer holds the first delivery")
            rest = [threading.Thread(target=send, args=(n,)) for n in ("good-1", "bad", "good-2")]
            for t in rest:
                t.start()
            wait_for(lambda: gateway.webhook_writer.queue.qsize() == 3, "three deliveries wait behind it")
        for t in [first, *rest]:
            t.join(TIMEOUT)

    async def scenario() -> None:
        ready = asyncio.Event()
        running = asyncio.create_task(gateway.run(ready=ready))
        await asyncio.wait_for(ready.wait(), 60)
        logging.getLogger("ductile.webhooks").addHandler(records)
        try:
            await asyncio.to_thread(deliver)
        finally:
            logging.getLogger("ductile.webhooks").removeHandler(records)
            assert gateway.stop_event is not None
            gateway.stop_event.set()
            await asyncio.wait_for(running, 60)

    asyncio.run(scenario())

    statuses = {name: (a.status_code, a.json()) for name, a in answers.items()}
    assert statuses["bad"] == (500, {"error": "failed to enqueue job"}), statuses
    assert [statuses[n][0] for n in ("first", "good-1", "good-2")] == [202, 202, 202], statuses
    # the three waited as one burst, whose transaction failed; then each was stored on its own
    failed = [r for r in records.records if r.getMessage().startswith("webhook burst failed")]
    assert [getattr(r, "deliveries", None) for r in failed] == [3], [r.getMessage() for r in records.records]
    # exactly the three accepted jobs, each once, with the body that was sent; nothing of the bad one
    reopened = open_store(target[0])
    try:
        stored = payloads(reopened)
    finally:
        reopened.close()
    assert stored == {statuses[n][1]["job_id"]: bodies[n].decode() for n in ("first", "good-1", "good-2")}


def payloads(store: Any) -> dict[str, str]:
    return {job_id: payload for job_id, payload in raw(store, "SELECT job_id, payload FROM jobs")}


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_the_fallback_after_a_burst_that_did_commit_stores_nothing_twice(backend: str, tmp_path: Path) -> None:
    """A burst's error can come after its commit (PostgreSQL: the connection lost during COMMIT).
    The fallback then finds each created job by its delivery's pre-chosen id — answered as
    created, not inserted again — and a redelivery in that burst still gets the first job."""
    with backend_target(backend, tmp_path) as target:
        store = open_store(target)
        try:
            now = datetime.now(UTC)
            since = now - timedelta(hours=1)
            burst = [
                Delivery(WebhookJob("site", '{"n":1}', "webhook:/hooks/site", 3, "webhook:/hooks/site:d1"), now, since, None),
                Delivery(WebhookJob("site", '{"n":2}', "webhook:/hooks/site", 3), now, None, None),
                Delivery(WebhookJob("site", '{"n":3}', "webhook:/hooks/site", 3, "webhook:/hooks/site:d1"), now, since, None),
            ]  # fmt: skip
            committed = store.enqueue_webhooks(burst)  # the commit happened; say its answer was lost
            again = [_after_failed_burst(store, d) for d in burst]
            assert [(r.job_id, r.created) for r in again] == [(r.job_id, r.created) for r in committed]
            assert [r.created for r in again] == [True, True, False]
            assert payloads(store) == {burst[0].job_id: '{"n":1}', burst[1].job_id: '{"n":2}'}
        finally:
            store.close()
