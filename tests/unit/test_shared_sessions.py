"""The store-backed dashboard session book's rules without a database or a clock: `now` is passed
in, and the store is a dict with the five PostgreSQL store methods (their SQL is tested against
the real server in tests/store/test_pg_ui_sessions.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from ductile.api.auth import Principal
from ductile.store import StoreError
from ductile.store.pg_ui_sessions import SessionRow
from ductile.ui import auth
from ductile.ui.shared_sessions import TOUCH_EVERY, StoreSessionBook, key_of, touch_interval, verdict

WHO = Principal("ops", frozenset({"jobs:ro"}))
DIGEST = b"d" * 32


@dataclass
class FakeStore:
    """The `ui_sessions` table as a dict; counts the writes a page view costs."""

    rows: dict[bytes, SessionRow] = field(default_factory=dict)
    touches: int = 0
    fail_trim: bool = False

    def ui_session_add(self, key: bytes, digest: bytes, csrf: str, *, now: datetime) -> None:
        self.rows[key] = SessionRow(digest, csrf, now, now)

    def ui_session_row(self, key: bytes) -> SessionRow | None:
        return self.rows.get(key)

    def ui_session_touch(self, key: bytes, *, now: datetime) -> None:
        self.touches += 1
        row = self.rows[key]
        self.rows[key] = SessionRow(row.digest, row.csrf, row.created, max(row.last_seen, now))

    def ui_session_drop(self, key: bytes, *, idle_before: datetime | None = None) -> None:
        row = self.rows.get(key)
        if row is not None and (idle_before is None or row.last_seen < idle_before):
            del self.rows[key]

    def prune_ui_sessions(self, cutoff: datetime, batch: int = 1000) -> int:
        if self.fail_trim:
            raise StoreError("the database is down")
        gone = [k for k, r in self.rows.items() if r.last_seen < cutoff][:batch]
        for k in gone:
            del self.rows[k]
        return len(gone)

    def cap_ui_sessions(self, keep: int) -> int:
        newest = sorted(self.rows, key=lambda k: self.rows[k].last_seen, reverse=True)
        for k in newest[keep:]:
            del self.rows[k]
        return max(0, len(newest) - keep)


def book_on(store: FakeStore, ttl: float = 3600, tokens: dict[bytes, Principal] | None = None) -> StoreSessionBook:
    known = {DIGEST: WHO} if tokens is None else tokens
    return StoreSessionBook(ttl=ttl, store=lambda: store, principal_of=known.get)


T0 = 1_800_000_000.0  # wall-clock seconds


def test_verdict_expires_past_ttl_and_touches_only_a_stale_last_seen() -> None:
    assert touch_interval(3600) == TOUCH_EVERY == 60
    assert touch_interval(8) == 2  # a short ttl: a quarter of it, so use keeps a session alive
    assert verdict(T0, T0 + 59, 3600, touch=True) == "keep"
    assert verdict(T0, T0 + 60, 3600, touch=True) == "touch"
    assert verdict(T0, T0 + 600, 3600, touch=False) == "keep"  # a live refresh never writes
    assert verdict(T0, T0 + 3600, 3600, touch=True) == "touch"
    assert verdict(T0, T0 + 3600.5, 3600, touch=True) == "expired"
    assert verdict(T0, T0 + 3600.5, 3600, touch=False) == "expired"


def test_a_session_is_stored_under_its_ids_digest_never_the_id() -> None:
    store = FakeStore()
    s = book_on(store).create(DIGEST, WHO, T0)
    assert list(store.rows) == [key_of(s.id)] and key_of(s.id) != s.id.encode()
    row = store.rows[key_of(s.id)]
    assert (row.digest, row.csrf, row.created.timestamp()) == (DIGEST, s.csrf, T0)
    assert s.id not in repr(store.rows)


def test_a_page_view_writes_at_most_once_a_minute_and_use_keeps_the_session() -> None:
    store = FakeStore()
    book = book_on(store, ttl=300)
    s = book.create(DIGEST, WHO, T0)
    for t in range(1, 60):  # a click a second for a minute: reads only
        got = book.get(s.id, T0 + t)
        assert got is not None and got.csrf == s.csrf and got.principal == WHO
    assert store.touches == 0
    assert book.get(s.id, T0 + 60) is not None and store.touches == 1
    assert book.get(s.id, T0 + 61) is not None and store.touches == 1
    # used every 50 s for far longer than ttl: each use within the interval of the last write
    for t in range(110, 2000, 50):
        assert book.get(s.id, T0 + t) is not None
    assert store.touches > 10


def test_idle_past_ttl_is_gone_and_the_row_deleted() -> None:
    store = FakeStore()
    book = book_on(store, ttl=300)
    s = book.create(DIGEST, WHO, T0)
    assert book.get(s.id, T0 + 299, touch=False) is not None  # a live refresh: not activity
    assert book.get(s.id, T0 + 301, touch=False) is None  # so the session ends from its last use
    assert store.rows == {}
    assert book.get(s.id, T0 + 302) is None


def test_expiry_runs_from_the_last_written_touch_never_later_than_ttl() -> None:
    store = FakeStore()
    book = book_on(store, ttl=300)
    s = book.create(DIGEST, WHO, T0)
    assert book.get(s.id, T0 + 59) is not None  # within the interval: not written
    assert book.get(s.id, T0 + 301) is None  # so 300 s after the write it ends (at most 60 s early)


def test_expiry_does_not_delete_a_row_another_node_just_touched() -> None:
    class Racing(FakeStore):
        """Another node touches the row between this node's read and its delete."""

        def ui_session_row(self, key: bytes) -> SessionRow | None:
            row = super().ui_session_row(key)
            if row is not None:
                self.ui_session_touch(key, now=datetime.fromtimestamp(T0 + 400, UTC))
            return row

    store = Racing()
    book = book_on(store, ttl=300)
    s = book.create(DIGEST, WHO, T0)
    assert book.get(s.id, T0 + 401) is None  # this node read the stale row: expired for it
    assert key_of(s.id) in store.rows  # but the drop only deletes a row still idle past now - ttl


def test_logout_drops_and_a_removed_token_ends_its_sessions() -> None:
    store = FakeStore()
    tokens = {DIGEST: WHO}
    book = book_on(store, tokens=tokens)
    a, b = book.create(DIGEST, WHO, T0), book.create(DIGEST, WHO, T0)
    assert a.id != b.id and a.csrf != b.csrf
    book.drop(a.id)
    assert book.get(a.id, T0 + 1) is None and book.get(b.id, T0 + 1) is not None
    assert book.get(None, T0) is None and book.get("", T0) is None and book.get("nope", T0) is None
    changed = Principal("ops", frozenset({"*"}))
    tokens[DIGEST] = changed  # scopes changed in the config: the next request has them
    assert book.get(b.id, T0 + 2).principal == changed  # type: ignore[union-attr]
    del tokens[DIGEST]  # token removed from the config
    assert book.get(b.id, T0 + 3) is None and store.rows == {}


def test_sign_ins_trim_expired_sessions_and_the_number_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "MAX_SESSIONS", 3)
    store = FakeStore()
    book = book_on(store, ttl=100)
    old = book.create(DIGEST, WHO, T0)
    made = [book.create(DIGEST, WHO, T0 + 200 + i) for i in range(4)]
    assert key_of(old.id) not in store.rows  # expired: deleted by a later sign-in
    assert set(store.rows) == {key_of(s.id) for s in made[1:]}  # the 3 most recent


def test_a_failed_trim_does_not_fail_the_sign_in() -> None:
    store = FakeStore(fail_trim=True)
    s = book_on(store).create(DIGEST, WHO, T0)
    assert key_of(s.id) in store.rows
