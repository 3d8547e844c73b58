"""The event hub of a gateway in a PostgreSQL cluster: one stream for every node.

`publish` does not hand the event to this node's SSE clients directly: it queues it for a writer
thread, which appends it to the shared `stream_events` table (store/pg_events.py), where it gets
its id. A follower thread on every node — this one included — reads the table in id order and
delivers each event into the local hub, so every node streams every node's events under the same
ids, and `Last-Event-ID` from any node resumes exactly on any other: from the memory buffer when
it still holds the id, else from the table. Publishing stays a deque append (the dispatcher never
waits for the database); metrics taps still run at publish, on the node where the event happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from ductile.events import QUEUE_SIZE, REPLAY_SIZE, Event, EventHub, Replay
from ductile.store.pg_events import PAGE, TRIM_EVERY, EventLog, Follower, Pending

if TYPE_CHECKING:
    from ductile.store.postgres import PostgresStore

log = logging.getLogger("ductile.events")
OUTBOX = 100_000  # events waiting for the database; beyond this (a long outage) the oldest are dropped
BATCH = 500
RETRY = 1.0
# How long the writer lets events gather before a transaction: under load one commit (and one
# wake-up of every node) carries many events instead of one each; the stream is 50 ms later.
COALESCE = 0.05


class ClusterHub(EventHub):
    def __init__(self, replay_size: int = REPLAY_SIZE, queue_size: int = QUEUE_SIZE):
        super().__init__(replay_size, queue_size)
        self.node_id: str | None = None
        self._log: EventLog | None = None
        self._outbox: deque[Pending] = deque()
        self._dropped = 0
        self._pending = threading.Event()
        self._stop = threading.Event()
        self._writer: threading.Thread | None = None
        self._follower: Follower | None = None
        self._cursor = 0
        self._store: PostgresStore | None = None
        # Called on the event loop for each event another node published (cluster.py: a leader
        # re-reads the schedule rows after a pause or resume made elsewhere).
        self.remote: list[Callable[[Event], None]] = []

    # -- publishing (any thread) --------------------------------------------------------------
    def publish(self, type_: str, data: dict[str, Any]) -> Event:
        event = Event(id=0, type=type_, data=data, node=self.node_id)  # the id comes from the table
        if len(self._outbox) >= OUTBOX:
            self._outbox.popleft()
            self._dropped += 1
        self._outbox.append(Pending(type_, data, event.at))
        self._pending.set()
        for tap in self.taps:
            tap(event)
        return event

    # -- life cycle -----------------------------------------------------------------------------
    def attach(self, store: PostgresStore) -> None:
        """Start writing to `store`'s table; the stream of this node starts at its newest event."""
        if self._log is not None:
            return
        self._store = store
        self._log = EventLog(store)
        self.node_id = store.node_id
        _, newest = self._log.bounds()
        self._cursor = self.last_id = newest
        self._writer = threading.Thread(target=self._write, name="ductile-event-writer", daemon=True)
        self._writer.start()

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Follow the table, delivering into this hub on `loop` (from the event loop's thread)."""
        if self._follower is not None or self._store is None:
            return
        store = self._store

        def deliver(page: list[Event]) -> None:
            loop.call_soon_threadsafe(self._deliver, page)

        self._follower = Follower(store.url, store.schema, self._cursor, deliver)
        self._follower.start()

    def close(self, timeout: float = 5.0) -> None:
        """Write what is still queued (up to `timeout`), then stop both threads."""
        self._stop.set()
        self._pending.set()
        if self._writer is not None:
            self._writer.join(timeout)
        if self._follower is not None:
            self._follower.stop()
            self._follower = None

    # -- the writer thread ----------------------------------------------------------------------
    def _write(self) -> None:
        assert self._log is not None
        trimmed = time.monotonic()
        while True:
            self._pending.wait(timeout=TRIM_EVERY)
            self._stop.wait(COALESCE)  # a burst (a job's several events, a fire's) in one transaction
            self._pending.clear()
            while self._outbox:
                batch = [self._outbox.popleft() for _ in range(min(BATCH, len(self._outbox)))]
                try:
                    self._log.append(batch)
                except Exception as exc:  # the database is away: keep them and try again
                    self._outbox.extendleft(reversed(batch))
                    log.warning("could not write events to the database; retrying", extra={"error": str(exc)})
                    if self._stop.wait(RETRY):
                        return  # stopping with the database away: what is left is lost
                    break
            if self._dropped:
                log.warning("event stream outbox overflowed; oldest events dropped", extra={"count": self._dropped})
                self._dropped = 0
            if self._stop.is_set() and not self._outbox:
                return
            if time.monotonic() - trimmed >= TRIM_EVERY:
                trimmed = time.monotonic()
                with contextlib.suppress(Exception):
                    self._log.trim()

    # -- delivery (event loop) ------------------------------------------------------------------
    def _deliver(self, page: list[Event]) -> None:
        for event in page:
            if event.id <= self.last_id:
                continue
            self.last_id = event.id
            self._replay.append(event)
            for sub in list(self._subscribers):
                sub.offer(event)
            if event.node != self.node_id:
                for watcher in self.remote:
                    watcher(event)

    # -- resume ---------------------------------------------------------------------------------
    async def issued(self) -> int:
        """The newest id any node issued (a client may come from a node a few events ahead)."""
        if self._log is None:
            return self.last_id
        _, newest = await asyncio.to_thread(self._log.bounds)
        return max(self.last_id, newest)

    async def replay_after(self, last_id: int, upto: int) -> Replay:
        if self._log is None:
            return await super().replay_after(last_id, upto)
        if last_id >= upto:  # nothing older than the live tail: the subscription carries the rest
            return Replay(_nothing(), False, upto + 1)
        if self._replay and self._replay[0].id <= last_id + 1:  # the memory buffer still holds it
            return await super().replay_after(last_id, upto)
        oldest, _ = await asyncio.to_thread(self._log.bounds)
        first = upto + 1 if oldest is None else oldest
        return Replay(self._pages(max(last_id, first - 1), upto), last_id + 1 < first, first)

    async def _pages(self, after: int, upto: int) -> AsyncIterator[list[Event]]:
        assert self._log is not None
        log_ = self._log
        while after < upto:
            page = await asyncio.to_thread(log_.after, after, upto=upto, limit=PAGE)
            if not page:
                return
            yield page
            after = page[-1].id


async def _nothing() -> AsyncIterator[list[Event]]:
    return
    yield
