"""The `ui_sessions` table (PostgreSQL migration 0112) and its store methods against the real
server: rows keyed by the session id's SHA-256, a touch that only moves forward, an expiry drop
that spares a row touched since, batched pruning and the cap. PostgreSQL only (SQLite keeps
sessions in memory); skips without a server, fails instead under CI=true (tests/pgtest.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pgtest import fresh_schema

from ductile.api.auth import Principal
from ductile.store import open_store
from ductile.ui.shared_sessions import StoreSessionBook, key_of

T0 = datetime(2026, 11, 29, 10, 0, 0, tzinfo=UTC)
WHO = Principal("ops", frozenset({"jobs:ro"}))


@pytest.fixture
def pg() -> Iterator[Any]:
    with fresh_schema("uis") as url:
        store = open_store(url)
        try:
            yield store
        finally:
            store.close()


def stored(store: Any) -> list[tuple[Any, ...]]:
    return [
        tuple(r) for r in store._read("SELECT session_hash, token_digest, csrf, created_at, last_seen FROM ui_sessions")
    ]


def test_migration_0112_creates_the_table(pg: Any) -> None:
    versions = {r[0] for r in pg._read("SELECT version FROM schema_version")}
    assert 112 in versions
    columns = [
        r[0]
        for r in pg._read(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = 'ui_sessions' ORDER BY ordinal_position"
        )
    ]
    assert columns == ["session_hash", "token_digest", "csrf", "created_at", "last_seen"]


def test_rows_round_trip_touch_forward_only_and_drop(pg: Any) -> None:
    key, digest = b"k" * 32, b"d" * 32
    pg.ui_session_add(key, digest, "csrf-1", now=T0)
    row = pg.ui_session_row(key)
    assert (row.digest, row.csrf, row.created, row.last_seen) == (digest, "csrf-1", T0, T0)
    assert stored(pg)[0][3:] == ("2026-11-29T10:00:00.000000Z", "2026-11-29T10:00:00.000000Z")  # UTC text
    pg.ui_session_touch(key, now=T0 + timedelta(seconds=90))
    pg.ui_session_touch(key, now=T0 + timedelta(seconds=30))  # a node whose clock is behind
    assert pg.ui_session_row(key).last_seen == T0 + timedelta(seconds=90)
    # an expiry decided against an older stamp does not delete the row touched since
    pg.ui_session_drop(key, idle_before=T0 + timedelta(seconds=60))
    assert pg.ui_session_row(key) is not None
    pg.ui_session_drop(key, idle_before=T0 + timedelta(seconds=91))
    assert pg.ui_session_row(key) is None
    pg.ui_session_add(key, digest, "csrf-2", now=T0)
    pg.ui_session_drop(key)
    assert pg.ui_session_row(key) is None and pg.ui_session_row(b"none") is None


def test_prune_in_batches_and_cap(pg: Any) -> None:
    for i in range(7):
        pg.ui_session_add(bytes([i]) * 32, b"d" * 32, f"c{i}", now=T0 + timedelta(minutes=i))
    cutoff = T0 + timedelta(minutes=3)  # sessions 0, 1, 2 idle since before it
    assert pg.prune_ui_sessions(cutoff, batch=2) == 2
    assert pg.prune_ui_sessions(cutoff, batch=2) == 1
    assert pg.prune_ui_sessions(cutoff, batch=2) == 0
    assert pg.cap_ui_sessions(2) == 2  # the two most recently seen stay
    assert sorted(r[2] for r in stored(pg)) == ["c5", "c6"]


def test_the_book_on_the_real_store_keeps_no_session_id_in_clear(pg: Any) -> None:
    book = StoreSessionBook(ttl=300, store=lambda: pg, principal_of={b"d" * 32: WHO}.get)
    now = T0.timestamp()
    s = book.create(b"d" * 32, WHO, now)
    rows = stored(pg)
    assert len(rows) == 1 and bytes(rows[0][0]) == key_of(s.id)
    assert s.id.encode() not in b"".join(bytes(r[0]) + bytes(r[1]) + r[2].encode() for r in rows)
    got = book.get(s.id, now + 61)
    assert got is not None and got.csrf == s.csrf and got.created == now
    assert pg.ui_session_row(key_of(s.id)).last_seen.timestamp() == now + 61  # touched: > 60 s old
    assert book.get(s.id, now + 362) is None  # 301 s after the last written touch
    assert stored(pg) == []


def test_the_pruner_deletes_idle_sessions_in_batches(pg: Any) -> None:
    from ductile.upkeep import pruner

    for i in range(5):
        pg.ui_session_add(bytes([i]) * 32, b"d" * 32, f"c{i}", now=T0 + timedelta(minutes=i))
    original = pg.prune_ui_sessions
    pg.prune_ui_sessions = lambda cutoff: original(cutoff, batch=2)  # several batches
    assert asyncio.run(pruner.prune_ui_sessions(pg, T0 + timedelta(minutes=3))) == 3
    assert sorted(r[2] for r in stored(pg)) == ["c3", "c4"]


def test_failed_sign_ins_are_counted_per_address_forgotten_on_success_and_pruned(pg: Any) -> None:
    # migration 0113: the cluster-wide count behind ui/shared_throttle.py
    assert 113 in {r[0] for r in pg._read("SELECT version FROM schema_version")}
    for n in range(6):
        pg.ui_login_failed("203.0.113.7", now=T0 + timedelta(seconds=n), window_start=T0 - timedelta(seconds=60))
    pg.ui_login_failed("198.51.100.1", now=T0, window_start=T0 - timedelta(seconds=60))
    latest = pg.ui_login_recent("203.0.113.7", since=T0 - timedelta(seconds=60), limit=5)
    assert latest == [T0 + timedelta(seconds=n) for n in range(1, 6)]  # the latest five, oldest first
    assert pg.ui_login_recent("203.0.113.7", since=T0 + timedelta(seconds=3), limit=5) == [
        T0 + timedelta(seconds=4),
        T0 + timedelta(seconds=5),
    ]
    # a failure a minute later drops the address's failures from before its window
    later = T0 + timedelta(seconds=90)
    pg.ui_login_failed("203.0.113.7", now=later, window_start=later - timedelta(seconds=60))
    assert pg._read("SELECT count(*) FROM ui_login_failures WHERE client = '203.0.113.7'")[0][0] == 1  # 90 s only
    pg.ui_login_forget("203.0.113.7")
    assert pg.ui_login_recent("203.0.113.7", since=T0 - timedelta(seconds=60), limit=5) == []
    assert pg.prune_ui_login_failures(T0 + timedelta(seconds=1)) == 1  # the other address's old one
    assert pg._read("SELECT count(*) FROM ui_login_failures")[0][0] == 0
