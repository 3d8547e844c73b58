"""Failed dashboard sign-ins counted in the PostgreSQL store, so the limit holds across a cluster.

Behind a load balancer a guesser's attempts spread over the nodes; with the count in each node's
memory (ui/throttle.py) N nodes would allow N times the limit. `StoreLoginThrottle` keeps the
`LoginThrottle` interface and its rule (`throttle.wait_for`) with the failures in the store's
`ui_login_failures` table (migration 0113, store/pg_ui_sessions.py). Times are wall-clock seconds:
nodes' monotonic clocks are unrelated. Its calls wait on the database: the login route runs them
through `auth.off_loop`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ductile.ui.throttle import LIMIT, WINDOW, wait_for


@dataclass
class StoreLoginThrottle:
    store: Callable[[], Any]
    limit: int = LIMIT
    window: float = WINDOW

    def clock(self) -> float:
        return time.time()

    def retry_after(self, client: str, now: float) -> int | None:
        moment = datetime.fromtimestamp(now, UTC)
        recent = self.store().ui_login_recent(client, since=moment - timedelta(seconds=self.window), limit=self.limit)
        return wait_for([t.timestamp() for t in recent], self.limit, self.window, now)

    def failed(self, client: str, now: float) -> int | None:
        moment = datetime.fromtimestamp(now, UTC)
        self.store().ui_login_failed(client, now=moment, window_start=moment - timedelta(seconds=self.window))
        return self.retry_after(client, now)

    def succeeded(self, client: str) -> None:
        self.store().ui_login_forget(client)
