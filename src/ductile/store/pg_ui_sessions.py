"""Dashboard sessions in PostgreSQL (the `ui_sessions` table, migration 0112) — and the failed
sign-ins the login form counts (`ui_login_failures`, 0113) — so every node of a
cluster serves the same sessions: a sign-in on one node opens pages on the others, and Sign out
on any node ends the session everywhere. The rules (idle expiry, when to touch) are the book's
(`ductile.ui.shared_sessions`); this mixin only stores rows.

Rows are keyed by the SHA-256 of the session id, never the id itself, so reading the table (or
a backup of it) does not let anyone in. Writes are not durable (`_tx(durable=False)`): a session
lost in a database server crash only means signing in again, and a page view should not wait
for a WAL flush.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ductile.store import queries
from ductile.timeutil import from_text, to_text

Q = queries.load("postgres_ui_sessions")


@dataclass(frozen=True)
class SessionRow:
    """One stored session: the token's digest, the CSRF value, and its wall-clock stamps."""

    digest: bytes
    csrf: str
    created: datetime
    last_seen: datetime


class PgUiSessions:
    """Session rows of `PostgresStore` (a mixin: needs `_tx` and `_read`)."""

    _tx: Any
    _read: Any

    def ui_session_add(self, key: bytes, digest: bytes, csrf: str, *, now: datetime) -> None:
        with self._tx(durable=False) as db:
            db.execute(Q["ui_session_insert"], {"key": key, "digest": digest, "csrf": csrf, "now": to_text(now)})

    def ui_session_row(self, key: bytes) -> SessionRow | None:
        rows = self._read(Q["ui_session_get"], {"key": key})
        if not rows:
            return None
        r = rows[0]
        return SessionRow(bytes(r[0]), r[1], from_text(r[2]), from_text(r[3]))

    def ui_session_touch(self, key: bytes, *, now: datetime) -> None:
        """Move `last_seen` forward to `now` (never back: nodes' clocks differ a little)."""
        with self._tx(durable=False) as db:
            db.execute(Q["ui_session_touch"], {"key": key, "now": to_text(now)})

    def ui_session_drop(self, key: bytes, *, idle_before: datetime | None = None) -> None:
        """Delete the session; with `idle_before`, only while its `last_seen` is still older
        (an expiry seen by one node must not undo a touch another node just wrote)."""
        with self._tx(durable=False) as db:
            if idle_before is None:
                db.execute(Q["ui_session_drop"], {"key": key})
            else:
                db.execute(Q["ui_session_drop_idle"], {"key": key, "cutoff": to_text(idle_before)})

    def prune_ui_sessions(self, cutoff: datetime, batch: int = 1000) -> int:
        """Delete up to `batch` sessions idle since before `cutoff`; how many went."""
        with self._tx(durable=False) as db:
            return db.execute(Q["ui_sessions_expire"], {"cutoff": to_text(cutoff), "batch": batch}).rowcount

    def cap_ui_sessions(self, keep: int) -> int:
        """Delete all but the `keep` most recently seen sessions; how many went."""
        with self._tx(durable=False) as db:
            return db.execute(Q["ui_sessions_cap"], {"keep": keep}).rowcount

    # -- failed sign-ins (migration 0113): the cluster-wide count behind ui/shared_throttle.py --
    def ui_login_recent(self, client: str, *, since: datetime, limit: int) -> list[datetime]:
        """The address's latest `limit` failures after `since`, oldest first."""
        rows = self._read(Q["ui_login_recent"], {"client": client, "since": to_text(since), "limit": limit})
        return [from_text(r[0]) for r in reversed(rows)]

    def ui_login_failed(self, client: str, *, now: datetime, window_start: datetime) -> None:
        """Count one failure of `client`; its failures from before the window go at the same time."""
        with self._tx(durable=False) as db:
            db.execute(Q["ui_login_forget_before"], {"client": client, "cutoff": to_text(window_start)})
            db.execute(Q["ui_login_failed"], {"client": client, "now": to_text(now)})

    def ui_login_forget(self, client: str) -> None:
        """A right token: the address starts afresh."""
        with self._tx(durable=False) as db:
            db.execute(Q["ui_login_forget"], {"client": client})

    def prune_ui_login_failures(self, cutoff: datetime, batch: int = 1000) -> int:
        """Delete up to `batch` failures recorded at or before `cutoff`; how many went."""
        with self._tx(durable=False) as db:
            return db.execute(Q["ui_login_expire"], {"cutoff": to_text(cutoff), "batch": batch}).rowcount
