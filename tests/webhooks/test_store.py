"""`Store.enqueue_webhook` on both backends (a real SQLite file, a real PostgreSQL schema): the
redelivery window in any status, and several connections racing with the same delivery id (the
gateway's check-and-insert is one transaction; on PostgreSQL under the dedupe key's advisory lock,
so two nodes cannot both insert)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from store.backends import BACKENDS, backend_target, raw

from ductile.store import open_store
from ductile.store.webhooks import WebhookJob
from ductile.timeutil import add_seconds

NOW = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with backend_target(request.param, tmp_path) as target:
        yield target


def job(key: str | None, body: str = '{"a":1}') -> WebhookJob:
    return WebhookJob(plugin="gh", payload_text=body, submitted_by="webhook:/gh", max_attempts=3, dedupe_key=key)


def test_any_status_inside_the_window_is_a_redelivery(db: str) -> None:
    store = open_store(db)
    try:
        first = store.enqueue_webhook(job("webhook:/gh:1"), now=NOW, delivery_since=None, dedupe_since=None)
        assert first.created
        raw(store, "UPDATE jobs SET status = 'failed' WHERE job_id = ?", (first.job_id,))  # failed for good
        later = add_seconds(NOW, 7200)
        inside = store.enqueue_webhook(
            job("webhook:/gh:1"), now=later, delivery_since=add_seconds(later, -3 * 3600), dedupe_since=None
        )
        assert (inside.created, inside.job_id, inside.status.value) == (False, first.job_id, "failed")
        outside = store.enqueue_webhook(
            job("webhook:/gh:1"), now=later, delivery_since=add_seconds(later, -3600), dedupe_since=None
        )
        assert outside.created and outside.job_id != first.job_id
        stored = store.get_job(outside.job_id)
        assert stored is not None
        assert (stored.payload, stored.submitted_by, stored.max_attempts, stored.command) == (
            {"a": 1},
            "webhook:/gh",
            3,
            "handle",
        )
        [(text,)] = raw(store, "SELECT payload FROM jobs WHERE job_id = ?", (outside.job_id,))
        assert text == '{"a":1}'  # verbatim text, not re-serialised
        assert store.enqueue_webhook(job(None), now=later, delivery_since=None, dedupe_since=None).created
    finally:
        store.close()


def test_two_connections_racing_with_one_delivery_id_make_one_job(db: str) -> None:
    open_store(db).close()
    stores = [open_store(db) for _ in range(4)]
    results: list = []
    lock = threading.Lock()
    try:
        for attempt in range(20):
            key = f"webhook:/gh:race-{attempt}"
            barrier = threading.Barrier(len(stores) * 2)
            results.clear()

            def deliver(store=stores[0], key: str = key, barrier: threading.Barrier = barrier) -> None:
                barrier.wait()
                result = store.enqueue_webhook(
                    job(key), now=datetime.now(UTC), delivery_since=NOW - timedelta(days=1), dedupe_since=None
                )
                with lock:
                    results.append(result)

            threads = [threading.Thread(target=deliver, args=(s,)) for s in stores for _ in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert sum(r.created for r in results) == 1
            assert len({r.job_id for r in results}) == 1
            assert raw(stores[0], "SELECT count(*) FROM jobs WHERE dedupe_key = ?", (key,))[0][0] == 1
    finally:
        for store in stores:
            store.close()
