"""Dashboard sessions kept in the PostgreSQL store, so every node of a cluster serves them.

Behind a load balancer, consecutive requests of one browser reach different nodes: with sessions
in one process's memory, a sign-in on node A was unknown to node B (back to the login page) and
Sign out on A left the session alive on B. `StoreSessionBook` keeps the `SessionBook` interface
and rules, with the rows in the `ui_sessions` table (store/pg_ui_sessions.py):

- the row's key is the SHA-256 of the session id; the id itself is only ever in the cookie;
- idle longer than `ttl` → gone (the row is deleted when seen, and by the hourly pruner);
- `touch=False` (a page's own live refreshes) never moves `last_seen`;
- a touch writes `last_seen` only when the stored one is older than `touch_interval(ttl)`
  (60 s, or a quarter of `ttl` when that is shorter): a page view costs one indexed read, not a
  write. The idle clock therefore runs from the last *written* touch, and a session ends between
  `ttl - interval` and `ttl` after its last use — never later than `ttl`;
- times are wall-clock seconds (`time.time()`), stored as UTC text: nodes' monotonic clocks are
  unrelated, so they cannot be shared. Small clock differences between nodes shift the expiry by
  as much (NTP keeps them far below the touch interval).

The book makes blocking database calls: callers on the event loop go through `auth.off_loop`;
`auth.ui_session` is a plain dependency, which FastAPI runs on its thread pool.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from ductile.api.auth import Principal
from ductile.store import StoreError
from ductile.ui import auth
from ductile.ui.auth import UiSession

log = logging.getLogger(__name__)
TOUCH_EVERY = 60.0  # seconds: at most one `last_seen` write per session this often
PRUNE_BATCH = 1000  # expired rows deleted per sign-in (the hourly pruner takes the rest)

Verdict = Literal["expired", "touch", "keep"]


def touch_interval(ttl: float) -> float:
    """How stale a stored `last_seen` may get before a use writes it again. A quarter of a short
    `ttl`, so a session in use never expires just because its touches were skipped."""
    return min(TOUCH_EVERY, ttl / 4)


def verdict(last_seen: float, now: float, ttl: float, touch: bool) -> Verdict:
    """What a use at `now` does to a session last written at `last_seen`. Pure."""
    idle = now - last_seen
    if idle > ttl:
        return "expired"
    if touch and idle >= touch_interval(ttl):
        return "touch"
    return "keep"


def key_of(session_id: str) -> bytes:
    """The stored key of a session: its id's SHA-256 (a copy of the table opens nothing)."""
    return hashlib.sha256(session_id.encode()).digest()


def moment(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@dataclass
class StoreSessionBook:
    """Sessions in the store's `ui_sessions` table (the `auth.Book` interface).

    `store` returns the gateway's store at call time; `principal_of` looks a token digest up in
    the tokens of the moment (a reload replaces them), so the session's principal is always
    current and a removed token's sessions end at their next request."""

    ttl: float
    store: Callable[[], Any]
    principal_of: Callable[[bytes], Principal | None]

    def clock(self) -> float:
        return time.time()

    def create(self, digest: bytes, principal: Principal, now: float) -> UiSession:
        session = UiSession.new(digest, principal, now)
        store = self.store()
        store.ui_session_add(key_of(session.id), digest, session.csrf, now=moment(now))
        try:  # bounded like the in-memory book; a failed trim must not fail the sign-in
            store.prune_ui_sessions(moment(now - self.ttl), PRUNE_BATCH)
            store.cap_ui_sessions(auth.MAX_SESSIONS)
        except StoreError:
            log.warning("could not trim dashboard sessions; the pruner will", exc_info=True)
        return session

    def get(self, session_id: str | None, now: float, touch: bool = True) -> UiSession | None:
        """The live session with this id (touched unless `touch` is false, and then only when its
        stored `last_seen` is stale); an idle-expired one is deleted and None, as is one whose
        token is no longer configured."""
        if not session_id:
            return None
        store = self.store()
        key = key_of(session_id)
        row = store.ui_session_row(key)
        if row is None:
            return None
        last_seen = row.last_seen.timestamp()
        decided = verdict(last_seen, now, self.ttl, touch)
        if decided == "expired":
            store.ui_session_drop(key, idle_before=moment(now - self.ttl))
            return None
        principal = self.principal_of(row.digest)
        if principal is None:
            store.ui_session_drop(key)
            return None
        if decided == "touch":
            store.ui_session_touch(key, now=moment(now))
            last_seen = now
        return UiSession(
            id=session_id,
            digest=row.digest,
            principal=principal,
            csrf=row.csrf,
            created=row.created.timestamp(),
            last_seen=last_seen,
        )

    def drop(self, session_id: str | None) -> None:
        if session_id:
            self.store().ui_session_drop(key_of(session_id))
