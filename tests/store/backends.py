"""Backend-neutral helpers for the store contract tests (SQLite file or PostgreSQL schema)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pgtest import fresh_schema

from ductile.store import SqliteStore, open_store

BACKENDS = ["sqlite", "postgres"]


@contextmanager
def backend_target(backend: str, directory: Path) -> Iterator[str]:
    """Where a store of `backend` lives for one test: a file path, or a URL on a fresh schema."""
    if backend == "sqlite":
        yield str(directory / "data" / "ductile.db")
    else:
        with fresh_schema() as url:
            yield url


def is_pg(store: Any) -> bool:
    return not isinstance(store, SqliteStore)


def raw(store: Any, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
    """Run one statement on the store's own database, committed; `?` placeholders on both."""
    if not is_pg(store):
        with store._lock:
            return [tuple(r) for r in store._db.execute(sql, params).fetchall()]
    with store._tx() as db:
        cursor = db.execute(sql.replace("?", "%s"), params)
        return [tuple(r) for r in cursor.fetchall()] if cursor.description else []


def reopen(store: Any) -> Any:
    """Another store instance (another connection) on the same database."""
    return open_store(store.path if not is_pg(store) else store.url)


def raw_many(store: Any, sql: str, rows: list[tuple[Any, ...]]) -> None:
    """`executemany` of one statement in one committed transaction, on either backend."""
    if not is_pg(store):
        with store._lock:
            store._db.execute("BEGIN")
            store._db.executemany(sql, rows)
            store._db.execute("COMMIT")
        return
    with store._tx() as db, db.cursor() as cursor:
        cursor.executemany(sql.replace("?", "%s"), rows)
