"""The cluster-wide event stream on PostgreSQL: the `stream_events` table (migration 0111).

Each node appends the events it publishes (batched, one statement per batch) and follows the
table from a LISTEN connection of its own, so every node's SSE hub receives every node's events
with the same ids. Ids are handed out by a one-row cursor whose lock is held to commit: gap-free
and committed in id order, which is what lets a follower read `id > last` and never skip an event
that committed late. A reconnecting client's `Last-Event-ID` older than the node's memory buffer
is replayed from the table; the newest `KEEP` events are kept.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ductile.events import Event
from ductile.store import queries
from ductile.store.pg_listen import ListenThread

if TYPE_CHECKING:
    import psycopg

    from ductile.store.postgres import PostgresStore

log = logging.getLogger(__name__)
Q = queries.load("postgres_events")
CHANNEL = "ductile_events"  # NOTIFY channel; the payload is the schema, so installations never mix
KEEP = 100_000  # events kept for Last-Event-ID replay (≈ a day of a busy gateway); trimmed every TRIM_EVERY
TRIM_EVERY = 60.0
PAGE = 2000
COALESCE = 0.05
NO_LIMIT = 2**62


@dataclass(frozen=True)
class Pending:
    """An event published on this node, not yet in the table."""

    type: str
    data: dict[str, Any]
    at: float


def _event(row: Any) -> Event:
    return Event(id=row[0], type=row[1], data=json.loads(row[2]), at=row[3], node=row[4])


class EventLog:
    """Appends and reads of `stream_events` through the store's pool."""

    def __init__(self, store: PostgresStore):
        self.store = store
        self.node_id = store.node_id

    def append(self, batch: list[Pending]) -> int:
        """Write `batch` in order under consecutive ids; the last id given."""
        params = {
            "n": len(batch),
            "types": [p.type for p in batch],
            "datas": [json.dumps(p.data, separators=(",", ":"), default=str) for p in batch],
            "ats": [p.at for p in batch],
            "node_id": self.node_id,
            "schema": self.store.schema,
        }
        with self.store._tx(durable=False) as db:
            row = db.execute(Q["events_append"], params).fetchone()
        return int(row[0]) if row is not None and row[0] is not None else 0

    def after(self, after: int, *, upto: int = NO_LIMIT, limit: int = PAGE) -> list[Event]:
        rows = self.store._read(Q["events_after"], {"after": after, "upto": upto, "limit": limit})
        return [_event(r) for r in rows]

    def bounds(self) -> tuple[int | None, int]:
        """(oldest id still kept or None when none is, newest id ever issued)."""
        row = self.store._read(Q["events_bounds"])[0]
        return (None if row[0] is None else int(row[0])), int(row[1])

    def trim(self, keep: int = KEEP) -> None:
        with self.store._tx(durable=False) as db:
            db.execute(Q["events_trim"], {"keep": keep})


class Follower(ListenThread):
    """A thread on its own LISTEN connection: reads new rows (by id, in order) whenever another
    node — or this one — appends, and hands each page to `deliver`. Polls every second as well,
    so a lost notification only delays events; reconnects after a lost connection."""

    def __init__(self, url: str, schema: str, cursor: int, deliver: Callable[[list[Event]], None]):
        super().__init__(
            url, CHANNEL, name="ductile-pg-events", log=log, lost="lost the event stream connection; reconnecting"
        )
        self.schema = schema
        self.cursor = cursor
        self.deliver = deliver

    def serve(self, conn: Any) -> None:
        while not self.stopping.is_set():
            self._pump(conn)
            for _ in conn.notifies(timeout=1.0, stop_after=1):
                pass
            self.stopping.wait(COALESCE)  # at most ~20 reads a second, however many commits

    def _pump(self, conn: psycopg.Connection[Any]) -> None:
        while not self.stopping.is_set():
            rows = conn.execute(Q["events_after"], {"after": self.cursor, "upto": NO_LIMIT, "limit": PAGE}).fetchall()
            if not rows:
                return
            page = [_event(r) for r in rows]
            self.cursor = page[-1].id
            self.deliver(page)
            if len(rows) < PAGE:
                return
