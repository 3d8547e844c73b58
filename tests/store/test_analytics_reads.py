"""`finished_counts` and `active_by_plugin` (GET /analytics/summary, /analytics/queue) return the
same numbers on both stores: one statement each, shared by the two (store/filters.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ductile.jobs import AttemptRecord, NewJob
from ductile.lifecycle import Decision, Status
from ductile.timeutil import to_text

BASE = datetime(2026, 11, 1, 12, tzinfo=UTC)


def _enqueue(store: Any, plugin: str, at: datetime) -> None:
    store.enqueue(NewJob(plugin=plugin, command="poll", submitted_by="api"), now=at, dedupe_since=None)


def _finish_next(store: Any, status: Status, at: datetime) -> None:
    job = store.claim(now=at)
    assert job is not None
    store.finish(job, AttemptRecord("success", "s", "e", 1.0), Decision(status), now=at)


def test_finished_counts_by_status_from_the_given_time(store):
    for i in range(5):
        _enqueue(store, "a", BASE + timedelta(seconds=i))
    _finish_next(store, Status.SUCCEEDED, BASE + timedelta(minutes=1))  # before `since`: not counted
    _finish_next(store, Status.SUCCEEDED, BASE + timedelta(minutes=2))
    _finish_next(store, Status.SUCCEEDED, BASE + timedelta(minutes=3))
    _finish_next(store, Status.FAILED, BASE + timedelta(minutes=4))
    store.claim(now=BASE + timedelta(minutes=5))  # running: not finished

    assert store.finished_counts(to_text(BASE + timedelta(minutes=2))) == {"succeeded": 2, "failed": 1}
    assert store.finished_counts(to_text(BASE + timedelta(hours=1))) == {}


def test_active_by_plugin_counts_queued_and_running_with_the_oldest_queued(store):
    _enqueue(store, "b", BASE)
    _enqueue(store, "a", BASE + timedelta(seconds=1))
    _enqueue(store, "a", BASE + timedelta(seconds=2))
    _enqueue(store, "c", BASE + timedelta(seconds=3))
    _enqueue(store, "a", BASE + timedelta(seconds=4))
    assert store.claim(now=BASE + timedelta(minutes=1)).plugin == "b"  # b: running only
    assert store.claim(now=BASE + timedelta(minutes=1)).plugin == "a"  # a's second 1: running
    _finish_next(store, Status.SUCCEEDED, BASE + timedelta(minutes=2))  # a's second 2: done, not active

    assert store.active_by_plugin() == [
        {"plugin": "a", "queued": 1, "running": 1, "oldest_queued_at": to_text(BASE + timedelta(seconds=4))},
        {"plugin": "b", "queued": 0, "running": 1, "oldest_queued_at": None},
        {"plugin": "c", "queued": 1, "running": 0, "oldest_queued_at": to_text(BASE + timedelta(seconds=3))},
    ]
