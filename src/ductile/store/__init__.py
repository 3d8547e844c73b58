"""Persistence behind one interface (`base.Store`); `open_store` picks the implementation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ductile.store.base import SchemaTooNew, StateTooLarge, Store, StoreError
from ductile.store.errors import StoreDamaged, StoreUnavailable
from ductile.store.sqlite import SqliteStore

__all__ = [
    "SchemaTooNew",
    "SqliteStore",
    "StateTooLarge",
    "Store",
    "StoreDamaged",
    "StoreError",
    "StoreUnavailable",
    "open_store",
]


def open_store(target: str | Path, **options: Any) -> Store:
    """A path or `sqlite:///path` opens SQLite; `postgresql://…` (or `postgres://…`) opens
    PostgreSQL (`options`: pool_size, connect_timeout, node_id); other schemes are refused by name."""
    text = str(target)
    if text.startswith(("postgresql://", "postgres://")):
        try:
            from ductile.store.postgres import PostgresStore
        except ImportError as exc:
            raise StoreError(
                f"database url {text.split('@')[-1]!r} needs the PostgreSQL driver, which is not installed "
                f"({exc}); install it with: pip install 'ductile[postgres]'"
            ) from exc
        return PostgresStore(text, **options)
    if "://" in text and not text.startswith("sqlite:"):
        raise StoreError(
            f"unsupported database url {text!r} (accepted: a file path, sqlite:///path or postgresql://…)"
        )
    path = text.removeprefix("sqlite:///").removeprefix("sqlite://")
    return SqliteStore(Path(path))
