"""The background WAL checkpointer a long-running gateway starts (SqliteStore.start_checkpointer)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from ductile.jobs import NewJob
from ductile.store import SqliteStore


def _fill(store: SqliteStore, jobs: int) -> None:
    for i in range(jobs):
        store.enqueue(
            NewJob(plugin="p", command="poll", payload={"blob": "x" * 4000, "i": i}),
            now=datetime(2026, 11, 29, tzinfo=UTC),
            dedupe_since=None,
        )


def test_commits_leave_the_wal_to_the_background_thread(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "ductile.db")
    store.start_checkpointer(interval=0.05)
    store.start_checkpointer(interval=0.05)  # idempotent
    assert store._read("PRAGMA wal_autocheckpoint")[0][0] > 1000
    before = store.path.stat().st_size
    _fill(store, 40)  # ~200 WAL pages: below the 1,000-page autocheckpoint
    deadline = time.monotonic() + 10
    while store.path.stat().st_size == before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert store.path.stat().st_size > before
    thread = store._checkpointer[1] if store._checkpointer else None
    assert thread is not None and thread.is_alive()
    store.close()
    assert not thread.is_alive()
    reopened = SqliteStore(tmp_path / "ductile.db")
    assert reopened.status_counts()["queued"] == 40
    reopened.close()


def test_without_it_a_store_keeps_sqlite_defaults(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "ductile.db")
    assert store._read("PRAGMA wal_autocheckpoint")[0][0] == 1000
    assert store._checkpointer is None
    store.close()


def test_an_idle_checkpointer_checkpoints_only_after_a_commit(tmp_path: Path) -> None:
    """No commit since the last full checkpoint: the rounds skip the checkpoint; the next commit
    is checkpointed again (its pages reach the database file)."""
    store = SqliteStore(tmp_path / "ductile.db")
    store.start_checkpointer(interval=0.02)
    _fill(store, 5)
    deadline = time.monotonic() + 10
    while store.checkpoints == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    settled = -1
    while settled != store.checkpoints and time.monotonic() < deadline:  # the rounds after the fill
        settled = store.checkpoints
        time.sleep(0.5)
    idle_from = store.checkpoints
    time.sleep(0.4)  # ~20 rounds with nothing committed
    assert store.checkpoints == idle_from
    size = store.path.stat().st_size
    _fill(store, 20)  # ~100 pages more
    deadline = time.monotonic() + 10
    while store.checkpoints == idle_from and time.monotonic() < deadline:
        time.sleep(0.02)
    assert store.checkpoints > idle_from
    while store.path.stat().st_size == size and time.monotonic() < deadline:
        time.sleep(0.02)
    assert store.path.stat().st_size > size  # the new pages reached the database file
    store.close()


def test_checkpoint_due_only_when_the_database_changed_or_the_last_one_was_partial() -> None:
    from ductile.store.sqlite import checkpoint_due

    assert checkpoint_due(None, 1)  # never checkpointed, or the last one partial/failed
    assert not checkpoint_due(7, 7)
    assert checkpoint_due(7, 8)
