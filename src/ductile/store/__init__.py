"""Persistence behind one interface (`base.Store`); `open_store` picks the implementation."""

from __future__ import annotations

from pathlib import Path

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


def open_store(target: str | Path) -> Store:
    """A path or `sqlite:///path` opens SQLite; other URL schemes are refused by name."""
    text = str(target)
    if "://" in text and not text.startswith("sqlite:"):
        raise StoreError(f"unsupported database url {text!r} (accepted: a file path or sqlite:///path)")
    path = text.removeprefix("sqlite:///").removeprefix("sqlite://")
    return SqliteStore(Path(path))
