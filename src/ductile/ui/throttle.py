"""Failed sign-ins per client address, limited: the login form must not be a fast oracle for
guessing API tokens.

A client address with `limit` failed sign-ins within `window` seconds is refused (429, with how
long to wait) until the oldest of them is `window` old; while refused, even a right token is not
checked, or the refusal would itself tell a guess right from wrong. A successful sign-in forgets
the address's failures. Memory is bounded: at most `max_clients` addresses are remembered, each
with at most `limit` times; when full, the address idle longest is forgotten first.

Pure bookkeeping (times passed in), so it is tested without a clock; one lock, since the login
route runs on the event loop but nothing here may be assumed single-threaded.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque

LIMIT = 5  # failed sign-ins per address ...
WINDOW = 60.0  # ... within this many seconds
MAX_CLIENTS = 10_000  # addresses remembered at once (each at most LIMIT floats)


class LoginThrottle:
    def __init__(self, limit: int = LIMIT, window: float = WINDOW, max_clients: int = MAX_CLIENTS):
        if limit < 1 or window <= 0 or max_clients < 1:
            raise ValueError("limit and max_clients must be at least 1 and window positive")
        self.limit = limit
        self.window = window
        self.max_clients = max_clients
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def clock(self) -> float:
        """The `now` this throttle's times are in (the shared one counts in wall-clock seconds)."""
        return time.monotonic()

    def retry_after(self, client: str, now: float) -> int | None:
        """Whole seconds `client` must wait before its next attempt is checked; None: go ahead."""
        with self._lock:
            return wait_for(list(self._recent(client, now) or ()), self.limit, self.window, now)

    def failed(self, client: str, now: float) -> int | None:
        """Count one failed sign-in of `client`; the wait it now faces (None: not at the limit)."""
        with self._lock:
            times = self._recent(client, now)
            if times is None:
                times = self._failures[client] = deque(maxlen=self.limit)
                while len(self._failures) > self.max_clients:
                    self._failures.popitem(last=False)  # the address idle longest
            times.append(now)
            self._failures.move_to_end(client)
            return wait_for(list(times), self.limit, self.window, now)

    def succeeded(self, client: str) -> None:
        """A right token: the address starts afresh."""
        with self._lock:
            self._failures.pop(client, None)

    def __len__(self) -> int:
        return len(self._failures)

    def _recent(self, client: str, now: float) -> deque[float] | None:
        """The client's failures still inside the window (expired ones dropped), or None."""
        times = self._failures.get(client)
        if times is None:
            return None
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[client]
            return None
        return times


def wait_for(recent: list[float], limit: int, window: float, now: float) -> int | None:
    """Whole seconds to wait given an address's latest failures (oldest first, inside the window);
    None: go ahead. The rule both throttles (this one and the cluster's) apply. Pure."""
    if len(recent) < limit:
        return None
    return max(1, math.ceil(recent[-limit] + window - now))
