"""A thread on its own PostgreSQL connection, LISTENing on one channel — the shape both the
dispatcher's wake-up (`pg_cluster.Listener`) and the cluster-wide event stream
(`pg_events.Follower`) share: connect with autocommit, LISTEN, serve until stopped, and after a
lost connection log it and reconnect a second later.

psycopg is imported inside the thread: `pg_events` is imported by the gateway module, and so by
every CLI command, which must not pay for the driver."""

from __future__ import annotations

import logging
import threading
from typing import Any


class ListenThread:
    """Subclasses implement `serve(conn)`: it runs on the thread with the LISTEN in place and
    returns when `stopping` is set (or raises psycopg.Error when the connection is lost)."""

    def __init__(self, url: str, channel: str, *, name: str, log: logging.Logger, lost: str):
        self.url = url
        self.channel = channel
        self._log = log
        self._lost = lost
        self.stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self._thread.join(timeout=5.0)

    def serve(self, conn: Any) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        import psycopg

        while not self.stopping.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {self.channel}")
                    self.serve(conn)
            except psycopg.Error as exc:
                self._log.warning(self._lost, extra={"error": str(exc)})
                self.stopping.wait(1.0)
