"""Storage faults as the store reports them, against real SQLite files: which failures are
`StoreUnavailable` (retryable, `write_fault` set until a write commits) and which are
`StoreDamaged` (the file is unusable), and what each message tells the operator."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ductile.jobs import NewJob
from ductile.store import SqliteStore, StoreDamaged, StoreUnavailable
from ductile.store.errors import EXIT_DAMAGED, EXIT_UNAVAILABLE, classify

T0 = datetime(2026, 11, 29, 10, 0, 0, tzinfo=UTC)


def job() -> NewJob:
    return NewJob(plugin="p", command="poll", payload={"n": 1}, submitted_by="api", max_attempts=3)


@contextlib.contextmanager
def outside_lock(path: Path) -> Iterator[sqlite3.Connection]:
    """Another process's connection holding the write lock."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        conn.close()


def test_a_held_write_lock_is_unavailable_then_clears_by_itself(tmp_path: Path) -> None:
    path = tmp_path / "ductile.db"
    store = SqliteStore(path, busy_timeout=0.05)
    first = store.enqueue(job(), now=T0, dedupe_since=None).job_id
    with outside_lock(path):
        with pytest.raises(StoreUnavailable) as info:
            store.enqueue(job(), now=T0, dedupe_since=None)
        fault = info.value
        assert fault.kind == "busy" and fault.operation == "write" and fault.retryable
        assert str(fault) == (
            f"database {path} cannot be written: another process holds a write lock on it "
            f"(SQLite: database is locked, SQLITE_BUSY); find the process writing to it (fuser {path}) and stop it"
        )
        assert fault.reason == "the database cannot be written: another process holds a write lock on it"
        assert store.write_fault is fault
        assert store.get_job(first) is not None  # reads go on
        assert store.probe_write() is False
    assert store.probe_write() is True
    assert store.write_fault is None
    store.close()


def test_a_write_that_commits_clears_the_fault(tmp_path: Path) -> None:
    path = tmp_path / "ductile.db"
    store = SqliteStore(path, busy_timeout=0.05)
    with outside_lock(path), pytest.raises(StoreUnavailable):
        store.enqueue(job(), now=T0, dedupe_since=None)
    assert store.write_fault is not None
    store.enqueue(job(), now=T0, dedupe_since=None)
    assert store.write_fault is None
    store.close()


def test_a_read_only_database_is_unavailable_for_writes(tmp_path: Path) -> None:
    path = tmp_path / "ductile.db"
    SqliteStore(path).close()
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    with pytest.raises(sqlite3.Error) as info:
        conn.execute("INSERT INTO schema_version (version) VALUES (99)")
    conn.close()
    fault = classify(info.value, path, "write")
    assert isinstance(fault, StoreUnavailable) and fault.kind == "readonly"
    assert fault.exit_code == EXIT_UNAVAILABLE == 1
    assert "it is read-only (SQLite: attempt to write a readonly database, SQLITE_READONLY)" in str(fault)


def test_bugs_in_our_sql_are_not_storage_faults(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "x.db")
    with pytest.raises(sqlite3.Error) as info:
        conn.execute("SELECT * FROM no_such_table")
    assert classify(info.value, tmp_path / "x.db", "read") is None
    assert classify(ValueError("x"), tmp_path / "x.db", "read") is None


@pytest.mark.parametrize(
    ("content", "meaning"),
    [
        (b"hello, not a database\n" * 50, "the file is not an SQLite database"),
        (bytes(range(256)) * 64, "the file is not an SQLite database"),
    ],
)
def test_a_file_that_is_not_a_database_is_damaged_and_left_alone(tmp_path: Path, content: bytes, meaning: str) -> None:
    path = tmp_path / "ductile.db"
    path.write_bytes(content)
    with pytest.raises(StoreDamaged) as info:
        SqliteStore(path)
    assert info.value.exit_code == EXIT_DAMAGED == 65
    assert str(info.value).startswith(f"database {path} is unusable: {meaning} (SQLite: file is not a database")
    assert str(info.value).endswith(f"(mv {path} {path}.broken) to start with an empty database")
    assert path.read_bytes() == content


def test_another_programs_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "places.sqlite"
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.executescript("CREATE TABLE a (x); CREATE TABLE b (x); CREATE TABLE c (x); CREATE TABLE d (x);")
        db.executescript("CREATE TABLE e (x); CREATE TABLE f (x);")
    before = path.read_bytes()
    with pytest.raises(StoreDamaged) as info:
        SqliteStore(path)
    assert str(info.value) == (
        f"database {path} is unusable: it is another program's SQLite database (tables: a, b, c, d, e, …; "
        f"no schema_version); point database.path at another file; ductile leaves {path} untouched"
    )
    assert path.read_bytes() == before
    assert not Path(f"{path}-wal").exists()


def test_a_zero_length_file_becomes_a_new_database(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "ductile.db"
    path.touch()
    store = SqliteStore(path)
    assert store.schema_version() >= 1
    assert any(
        r.getMessage() == "database file was empty (0 bytes): initialised a new database in it" for r in caplog.records
    )
    store.close()


def test_an_unusable_directory_is_one_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("a file where the data directory should be")
    with pytest.raises(StoreUnavailable) as info:
        SqliteStore(blocker / "ductile.db")
    assert str(info.value).startswith(
        f"database {blocker / 'ductile.db'} cannot be written: its directory cannot be used"
    )
