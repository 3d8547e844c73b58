"""In-process event hub: job transitions, scheduler fires/skips, gateway start/stop.

Every event gets a monotonic id and lands in a bounded replay buffer so an SSE client that
reconnects with Last-Event-ID resumes without gaps. Subscribers have bounded queues: publishing
never blocks or slows the dispatcher; a subscriber that falls behind is cut off and told so.
On PostgreSQL the gateway uses `cluster_events.ClusterHub` instead: the same subscriptions, fed
with every node's events under ids from the shared table.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

REPLAY_SIZE = 8192
QUEUE_SIZE = 8192  # per subscriber; only references to shared events, so ~64 KiB


@dataclass(frozen=True)
class Event:
    id: int
    type: str
    data: dict[str, Any]
    at: float = field(default_factory=time.time)
    node: str | None = None  # the node that published it (PostgreSQL clusters; None on SQLite)


LAGGED = Event(id=-1, type="stream.lagged", data={})


@dataclass(frozen=True)
class Replay:
    """What a reconnecting client missed: `pages` of events oldest first, and whether some of
    them are no longer kept (`gap`, with the oldest id still available)."""

    pages: AsyncIterator[list[Event]]
    gap: bool
    oldest: int


async def _one_page(events: list[Event]) -> AsyncIterator[list[Event]]:
    if events:
        yield events


class Subscription:
    """One listener's bounded buffer. A deque plus a wake-up flag rather than asyncio.Queue:
    `offer` runs for every event and every listener inside the dispatcher's turn, so it must be
    a bare append."""

    def __init__(self, hub: EventHub, size: int):
        self._hub = hub
        self._size = size
        self._buffer: deque[Event] = deque()
        self._ready = asyncio.Event()
        self.lagged = False

    def offer(self, event: Event) -> None:
        if self.lagged:
            return
        if len(self._buffer) >= self._size:
            self.lagged = True
            event = LAGGED  # the reader drains what it has, then learns it was cut off
        self._buffer.append(event)
        if not self._ready.is_set():
            self._ready.set()

    async def wait(self, timeout: float | None = None) -> bool:
        """Until something is buffered (True) or `timeout` passes (False)."""
        if not self._buffer:
            self._ready.clear()
            try:
                await asyncio.wait_for(self._ready.wait(), timeout)
            except TimeoutError:
                return False
        return True

    def drain(self, limit: int) -> list[Event]:
        buffer = self._buffer
        return [buffer.popleft() for _ in range(min(limit, len(buffer)))]

    async def get(self) -> Event:
        await self.wait()
        return self._buffer.popleft()

    def __len__(self) -> int:
        return len(self._buffer)

    def close(self) -> None:
        self._hub._subscribers.discard(self)


class EventHub:
    def __init__(self, replay_size: int = REPLAY_SIZE, queue_size: int = QUEUE_SIZE):
        self._ids = itertools.count(1)
        self._replay: deque[Event] = deque(maxlen=replay_size)
        self._subscribers: set[Subscription] = set()
        self._queue_size = queue_size
        self.last_id = 0
        # Synchronous observers (metrics): called inside publish, so each must be a few increments.
        self.taps: list[Callable[[Event], None]] = []

    def publish(self, type_: str, data: dict[str, Any]) -> Event:
        event = Event(id=next(self._ids), type=type_, data=data)
        self.last_id = event.id
        self._replay.append(event)
        for sub in list(self._subscribers):
            sub.offer(event)
        for tap in self.taps:
            tap(event)
        return event

    def subscribe(self) -> Subscription:
        sub = Subscription(self, self._queue_size)
        self._subscribers.add(sub)
        return sub

    def replay_since(self, last_id: int) -> tuple[list[Event], bool]:
        """Events after `last_id`, and whether some were already dropped from the buffer."""
        events = [e for e in self._replay if e.id > last_id]
        oldest = self._replay[0].id if self._replay else self.last_id + 1
        gap = last_id + 1 < oldest and last_id < self.last_id
        return events, gap

    async def issued(self) -> int:
        """The newest id this stream has issued: a Last-Event-ID above it was never issued here
        (the client saw a previous run of the gateway)."""
        return self.last_id

    async def replay_after(self, last_id: int, upto: int) -> Replay:
        """Events after `last_id` (the memory buffer may also return some after `upto`: the
        stream skips those when they arrive live)."""
        events, gap = self.replay_since(last_id)
        oldest = events[0].id if events else self.last_id + 1
        return Replay(_one_page(events), gap, oldest)

    def job_queued(self, job_id: str, plugin: str, command: str, submitted_by: str) -> Event:
        """The `job.queued` event, with the same fields the dispatcher's job events carry."""
        data = {"job_id": job_id, "plugin": plugin, "command": command, "status": "queued", "attempt": 1}
        return self.publish("job.queued", {**data, "submitted_by": submitted_by})

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)
