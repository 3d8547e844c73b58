"""Dashboard sessions' pure parts: idle expiry, logout, the bound on their number, and where a
login may send the browser afterwards."""

from __future__ import annotations

from ductile.api.auth import Principal
from ductile.ui import auth
from ductile.ui.auth import SessionBook, safe_next

WHO = Principal("ops", frozenset({"jobs:ro"}))


def test_a_session_lives_while_used_and_ends_after_ttl_idle() -> None:
    book = SessionBook(ttl=60)
    s = book.create(b"d" * 32, WHO, now=0)
    assert book.get(s.id, now=59) is s
    assert book.get(s.id, now=118) is s  # each use restarts the idle clock
    assert book.get(s.id, now=179) is None  # 61 s idle: gone, and stays gone
    assert book.get(s.id, now=180) is None
    assert s.id not in book.sessions


def test_background_reads_do_not_keep_a_session_alive() -> None:
    book = SessionBook(ttl=60)
    s = book.create(b"d" * 32, WHO, now=0)
    assert book.get(s.id, now=50, touch=False) is s
    assert book.get(s.id, now=61, touch=False) is None  # 61 s since the last real use


def test_logout_drops_the_session_and_ids_and_csrf_tokens_are_unguessable() -> None:
    book = SessionBook(ttl=60)
    a, b = book.create(b"a" * 32, WHO, now=0), book.create(b"b" * 32, WHO, now=0)
    assert a.id != b.id and a.csrf != b.csrf and a.csrf != a.id and len(a.id) >= 40
    book.drop(a.id)
    assert book.get(a.id, now=1) is None and book.get(b.id, now=1) is b
    assert book.get(None, now=1) is None and book.get("", now=1) is None


def test_the_number_of_sessions_is_bounded(monkeypatch) -> None:
    monkeypatch.setattr(auth, "MAX_SESSIONS", 3)
    book = SessionBook(ttl=60)
    made = [book.create(b"x" * 32, WHO, now=i) for i in range(5)]
    assert [s.id for s in made[2:]] == list(book.sessions)


def test_after_login_only_a_dashboard_path_is_followed() -> None:
    assert safe_next("/ui/jobs?status=failed") == "/ui/jobs?status=failed"
    for bad in ("https://evil.example/ui", "//evil.example/ui", "/\\evil", "/uix/../api", "javascript:alert(1)", None, ""):
        assert safe_next(bad) == "/ui"
    assert safe_next("//evil.example") == "/ui"
    assert safe_next("/ui\r\nSet-Cookie: x") == "/ui"
