"""The schedule-health watcher re-reads an entry's runs only when the database changed
(`health_watch.Reads`): an idle round costs no reads, and every judgement equals the one a full
re-read gives, including changes that need no read (the entry's next fire, the clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from ductile.config import ScheduleConfig
from ductile.jobs import AttemptRecord, NewJob
from ductile.lifecycle import Decision, Status
from ductile.scheduler.entries import Entry
from ductile.scheduler.health import HealthPolicy, assess
from ductile.scheduler.health_watch import Reads, _gather
from ductile.store import SqliteStore
from ductile.timeutil import to_text

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
SINCE = NOW - timedelta(hours=1)


class CountingStore(SqliteStore):
    """The real SQLite store, counting the watcher's run reads."""

    reads = 0

    def schedule_runs(self, plugin: str, command: str, key: str, limit: int):  # type: ignore[no-untyped-def]
        self.reads += 1
        return super().schedule_runs(plugin, command, key, limit)


class UntrackedStore(CountingStore):
    """A store that cannot tell whether the database changed (PostgreSQL's answer)."""

    def data_version(self) -> None:  # type: ignore[override]
        return None


def entries() -> list[Entry]:
    return [
        Entry("p", ScheduleConfig(id=name, every=60.0), slot=NOW, fire_at=NOW + timedelta(seconds=30))
        for name in ("a", "b")
    ]


def run_entry(store: SqliteStore, entry: Entry, status: Status, t: float) -> None:
    """One finished run of `entry` (its job carries the entry's dedupe key, as the scheduler's do)."""
    now = NOW + timedelta(seconds=t)
    job = NewJob(plugin="p", command="poll", submitted_by="scheduler", max_attempts=1, dedupe_key=entry.key)
    store.enqueue(job, now=now, dedupe_since=None)
    claimed = store.claim(now=now)
    assert claimed is not None
    record = AttemptRecord("error", to_text(now), to_text(now), 1.0, error="boom")
    store.finish(claimed, record, Decision(status, last_error="boom"), now=now)


def fresh(store: SqliteStore, watched: list[Entry]) -> list:
    """What a full re-read judges (no cache)."""
    return [e for _, e in _gather(watched, store, SINCE, 10)]


def test_idle_rounds_read_nothing_and_judge_the_same(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "ductile.db")
    watched, reads = entries(), Reads()
    run_entry(store, watched[0], Status.SUCCEEDED, 0)
    first = [e for _, e in _gather(watched, store, SINCE, 10, reads)]
    assert store.reads == 2
    second = [e for _, e in _gather(watched, store, SINCE, 10, reads)]
    assert store.reads == 2  # nothing committed: no reads
    assert second == first == fresh(store, watched)
    store.close()


def test_a_finished_run_is_read_and_judged_at_the_next_round(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "ductile.db")
    watched, reads = entries(), Reads()
    _gather(watched, store, SINCE, 10, reads)
    for t in (1, 2, 3):
        run_entry(store, watched[1], Status.FAILED, t)
    store.reads = 0
    gathered = [e for _, e in _gather(watched, store, SINCE, 10, reads)]
    assert store.reads == 2
    assert gathered[1].consecutive_failures == 3
    assert assess(gathered[1], NOW, HealthPolicy(failing_after=3)).state == "failing"
    assert gathered == fresh(store, watched)
    store.close()


def test_entry_and_clock_changes_need_no_read(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "ductile.db")
    watched, reads = entries(), Reads()
    _gather(watched, store, SINCE, 10, reads)
    store.reads = 0
    watched[0].fire_at = NOW - timedelta(minutes=5)  # the gateway did not fire it: late
    [late, _] = [e for _, e in _gather(watched, store, SINCE, 10, reads)]
    assert store.reads == 0
    assert late.next_fire == NOW - timedelta(minutes=5)
    assert assess(late, NOW, HealthPolicy(late_after=60)).state == "late"
    store.close()


def test_a_store_that_cannot_tell_is_read_every_round(tmp_path: Path) -> None:
    store = UntrackedStore(tmp_path / "ductile.db")
    watched, reads = entries(), Reads()
    _gather(watched, store, SINCE, 10, reads)
    _gather(watched, store, SINCE, 10, reads)
    assert store.reads == 4
    store.close()
