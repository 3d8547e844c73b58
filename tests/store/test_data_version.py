"""`Store.data_version`: what the schedule-health watcher compares to skip re-reading runs.
SQLite: changes with every committed change, by this store or another connection, and only
then. PostgreSQL: None (not tracked), which callers treat as "changed"."""

from __future__ import annotations

from ductile.lifecycle import Status
from ductile.store import SqliteStore
from store.backends import is_pg
from store.test_actions_contract import at, end, new


def test_data_version_moves_with_every_commit_and_only_then(store):
    first = store.data_version()
    if is_pg(store):
        store.enqueue(new(), now=at(0), dedupe_since=None)
        assert first is None and store.data_version() is None
        return
    assert store.data_version() == first  # reads change nothing
    store.status_counts()
    assert store.data_version() == first
    store.enqueue(new(), now=at(0), dedupe_since=None)
    enqueued = store.data_version()
    assert enqueued != first
    end(store, store.claim(now=at(1)), Status.SUCCEEDED, 2)
    assert store.data_version() != enqueued


def test_a_commit_by_another_connection_moves_it(tmp_path):
    path = tmp_path / "ductile.db"
    watcher, other = SqliteStore(path), SqliteStore(path)
    try:
        before = watcher.data_version()
        other.enqueue(new(), now=at(0), dedupe_since=None)  # another process's CLI, say
        assert watcher.data_version() != before
    finally:
        watcher.close()
        other.close()
