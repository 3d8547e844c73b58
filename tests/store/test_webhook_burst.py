"""`enqueue_webhooks` — the webhook writer's burst in one transaction — on both backends (the
`store` fixture: a real SQLite file and a real PostgreSQL schema): arrival order, the pre-chosen
job ids, a redelivery of an id seen earlier in the same burst answered with the first job's id,
the delivery and dedupe windows decided inside the transaction exactly as `enqueue_webhook`
decides them one by one, and all-or-nothing when one delivery cannot be stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ductile.lifecycle import Status
from ductile.store.webhooks import Delivery, WebhookJob
from ductile.timeutil import to_text
from store.backends import raw

NOW = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def job(key: str | None, body: str = '{"a":1}', plugin: Any = "gh") -> WebhookJob:
    return WebhookJob(plugin=plugin, payload_text=body, submitted_by="webhook:/gh", max_attempts=3, dedupe_key=key)


def delivery(key: str | None, body: str = '{"a":1}', *, ttl: timedelta | None = HOUR, **extra: Any) -> Delivery:
    """A delivery at NOW: with a key, the delivery window is `ttl`; the queue's dedupe window is a day."""
    since = NOW - ttl if key is not None and ttl is not None else None
    return Delivery(job(key, body, **extra), NOW, since, NOW - 24 * HOUR)


def stored(store: Any) -> dict[str, str]:
    return {job_id: payload for job_id, payload in raw(store, "SELECT job_id, payload FROM jobs")}


def test_a_burst_is_stored_in_order_under_its_chosen_ids_and_dedupes_within_itself(store: Any) -> None:
    burst = [
        delivery("webhook:/gh:1", '{"n":1}'),
        delivery(None, '{"n":2}'),
        delivery("webhook:/gh:1", '{"n":3}'),  # GitHub's "Redeliver" of the first, in the same burst
        delivery("webhook:/gh:2", '{"n":4}'),
        delivery("webhook:/gh:1", '{"n":5}'),  # and once more
    ]
    results = store.enqueue_webhooks(burst)
    assert [r.created for r in results] == [True, True, False, True, False]
    assert results[2].job_id == results[4].job_id == results[0].job_id == burst[0].job_id
    assert [r.job_id for r in results] == [burst[0].job_id, burst[1].job_id, burst[0].job_id, burst[3].job_id,
                                          burst[0].job_id]  # fmt: skip
    assert {r.status for r in results} == {Status.QUEUED}
    assert stored(store) == {burst[0].job_id: '{"n":1}', burst[1].job_id: '{"n":2}', burst[3].job_id: '{"n":4}'}
    # each new job has its "queued" transition, exactly one
    rows = raw(store, "SELECT job_id, to_status FROM transitions ORDER BY job_id")
    assert sorted(rows) == sorted((i, "queued") for i in (burst[0].job_id, burst[1].job_id, burst[3].job_id))
    first = store.get_job(burst[0].job_id)
    assert (first.plugin, first.command, first.submitted_by, first.max_attempts, first.dedupe_key) == (
        "gh",
        "handle",
        "webhook:/gh",
        3,
        "webhook:/gh:1",
    )


def test_the_windows_decide_each_delivery_of_a_burst_as_one_by_one(store: Any) -> None:
    """Jobs from earlier deliveries, in every status the windows distinguish; then one burst, and
    the same deliveries one by one on the same database afterwards must be decided alike."""
    old = NOW - 3 * HOUR
    seeded = {}
    for key, status in [
        ("failed", "failed"),
        ("queued", "queued"),
        ("ok-recent", "succeeded"),
        ("ok-old", "succeeded"),
    ]:
        result = store.enqueue_webhook(job(f"webhook:/gh:{key}"), now=old, delivery_since=None, dedupe_since=None)
        seeded[key] = result.job_id
        if status != "queued":
            raw(store, "UPDATE jobs SET status = ?, completed_at = ? WHERE job_id = ?",
                (status, to_text(NOW - 2 * HOUR if key == "ok-recent" else old), result.job_id))  # fmt: skip
    burst = [
        delivery("webhook:/gh:failed", ttl=4 * HOUR),  # inside the delivery window, any status: redelivery
        delivery("webhook:/gh:failed", ttl=HOUR),  # outside it, and failed is not a queue duplicate: new
        delivery("webhook:/gh:queued", ttl=HOUR),  # outside the delivery window but still queued: duplicate
        delivery("webhook:/gh:ok-recent", ttl=HOUR),  # succeeded inside the dedupe window (a day)
        Delivery(job("webhook:/gh:ok-old"), NOW, NOW - HOUR, NOW - HOUR),  # succeeded before the dedupe window: new
        delivery("webhook:/gh:failed", ttl=HOUR),  # the new job made two lines up is a redelivery now
    ]
    results = store.enqueue_webhooks(burst)
    decided = [(r.created, r.job_id, r.status.value) for r in results]
    assert decided == [
        (False, seeded["failed"], "failed"),
        (True, burst[1].job_id, "queued"),
        (False, seeded["queued"], "queued"),
        (False, seeded["ok-recent"], "succeeded"),
        (True, burst[4].job_id, "queued"),
        (False, burst[1].job_id, "queued"),
    ]


def test_a_burst_with_a_delivery_the_database_refuses_stores_nothing(store: Any) -> None:
    """All or nothing: a job the database refuses (no plugin: NOT NULL) rolls the whole burst back,
    the redelivery look-ups included; the store keeps working afterwards."""
    burst = [delivery("webhook:/gh:1", '{"n":1}'), delivery(None, '{"n":2}', plugin=None), delivery(None, '{"n":3}')]
    with pytest.raises(
        Exception, match=r"(?i)not.null"
    ) as refused:  # sqlite3.IntegrityError / psycopg's NotNullViolation
        store.enqueue_webhooks(burst)
    assert "plugin" in str(refused.value)
    assert stored(store) == {}
    assert raw(store, "SELECT count(*) FROM transitions")[0][0] == 0
    again = store.enqueue_webhooks([burst[0], burst[2]])
    assert [r.created for r in again] == [True, True]
    assert stored(store) == {burst[0].job_id: '{"n":1}', burst[2].job_id: '{"n":3}'}


def test_a_redelivery_after_the_burst_committed_returns_the_bursts_job(store: Any) -> None:
    """Across bursts: the first burst's job answers a later burst's redelivery, while it runs."""
    [first] = store.enqueue_webhooks([delivery("webhook:/gh:7")])
    claimed = store.claim(now=NOW + timedelta(seconds=1))
    assert claimed is not None and claimed.job_id == first.job_id
    [again, other] = store.enqueue_webhooks([delivery("webhook:/gh:7"), delivery("webhook:/gh:8")])
    assert (again.created, again.job_id, again.status) == (False, first.job_id, Status.RUNNING)
    assert other.created
