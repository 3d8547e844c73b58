"""The webhook listener's own thread and event loop, and its side of the gateway (the intake).

Why a thread of its own: on the gateway's loop a delivery waited behind every API request, the
dispatcher and the scheduler, and each enqueue hopped to a worker thread and back (two GIL
hand-offs per delivery). Under 16 concurrent senders the p99 was 5-8x the one-sender p99. Here the
listener's uvicorn server runs on a loop of its own, and the store write runs inline on that
thread:

- the write has no `await` between its start and its commit, so a sender hanging up cannot
  cancel it (§7.3 step 5); a store that cannot answer fails the write after its own bound
  (SQLite's busy timeout, the PostgreSQL pool's timeout) and the sender gets 500;
- the store is already shared between threads (SqliteStore serialises on its lock,
  PostgresStore draws from its pool);
- what must happen on the gateway's loop — SSE `job.queued` (the hub and its subscribers' queues
  belong to that loop), the metrics tap, the dispatcher wake-up — is handed over with
  `call_soon_threadsafe`, once per burst: deliveries committed while a hand-off is pending ride
  along with it, and the dispatcher is woken once, after their `job.queued` events.

The sockets are bound by the gateway before any job runs (`listener.bind`), as before; stopping
sets `should_exit` on the server, which finishes the requests in progress and returns.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from ductile.jobs import EnqueueResult
from ductile.store.webhooks import WebhookJob
from ductile.timeutil import add_seconds, utcnow
from ductile.webhooks.config import Endpoint, Intake

if TYPE_CHECKING:
    from datetime import datetime

    from ductile.gateway import Gateway

log = logging.getLogger("ductile.webhooks")

THREAD_NAME = "ductile-webhooks"
JOIN_GRACE = 5.0  # seconds a cancelled gateway waits for the listener thread to finish its requests


class GatewayIntake:
    """Writes webhook jobs into the gateway's store on the listener's thread; announces them on
    the gateway's loop (`loop`)."""

    def __init__(self, gateway: Gateway, loop: asyncio.AbstractEventLoop, clock: Callable[[], datetime] = utcnow):
        self.gateway = gateway
        self.loop = loop
        self.clock = clock
        self._lock = threading.Lock()
        self._pending: list[tuple[WebhookJob, EnqueueResult]] = []

    async def enqueue(self, endpoint: Endpoint, job: WebhookJob) -> EnqueueResult:
        """The listener's `enqueue`: synchronous inside, so nothing can cancel it half-way."""
        return self.write(endpoint, job)

    def write(self, endpoint: Endpoint, job: WebhookJob) -> EnqueueResult:
        gw = self.gateway
        assert gw.store is not None
        instance = gw.registry.get(endpoint.plugin)
        max_attempts = instance.spec.retry.max_attempts if instance is not None else 4
        job = WebhookJob(job.plugin, job.payload_text, job.submitted_by, max_attempts, job.dedupe_key, job.command)
        now = self.clock()
        result = gw.store.enqueue_webhook(
            job,
            now=now,
            delivery_since=add_seconds(now, -endpoint.delivery_ttl) if job.dedupe_key else None,
            dedupe_since=add_seconds(now, -gw.config.service.dedupe_ttl),
        )
        if result.created:
            log.info(
                "job queued",
                extra={
                    "job_id": result.job_id,
                    "plugin": job.plugin,
                    "command": job.command,
                    "attempt": 1,
                    "status": result.status.value,
                    "submitted_by": job.submitted_by,
                },
            )
            self.hand_over(job, result)
        return result

    def hand_over(self, job: WebhookJob, result: EnqueueResult) -> None:
        """Queue the announcement; schedule one `announce` on the gateway loop per burst."""
        with self._lock:
            self._pending.append((job, result))
            if len(self._pending) > 1:
                return  # an `announce` is already scheduled and will take this one too
        try:
            self.loop.call_soon_threadsafe(self.announce)
        except RuntimeError:  # the gateway loop is closed: nobody is left to tell (the job is stored)
            pass

    def announce(self) -> None:
        """On the gateway loop: `job.queued` for each committed delivery, in commit order, then
        one dispatcher wake-up."""
        with self._lock:
            batch, self._pending = self._pending, []
        for job, result in batch:
            self.gateway.hub.job_queued(result.job_id, job.plugin, job.command, job.submitted_by)
        if batch and self.gateway.dispatcher is not None:
            self.gateway.dispatcher.wake()


def run_server(server: object, sockets: list[socket.socket]) -> None:
    """The listener thread's body: a fresh event loop serving until `should_exit`."""
    asyncio.run(server.serve(sockets=sockets))  # type: ignore[attr-defined]


async def serve(gateway: Gateway, intake: Intake, sockets: list[socket.socket], app_factory: Callable) -> None:
    """Run the listener on its own thread until the gateway sets `webhook_server.should_exit`;
    an error in the listener's thread is raised here, in the gateway's task."""
    from ductile.api.server import HttpLimits, make_server
    from ductile.webhooks.listener import READ_TIMEOUT

    api = gateway.config.api
    limits = HttpLimits.of(api)
    limits = HttpLimits(
        idle_timeout=limits.idle_timeout,
        read_timeout=READ_TIMEOUT,
        max_connections=limits.max_connections,
        max_header_count=limits.max_header_count,
        max_header_bytes=limits.max_header_bytes,
        max_url_bytes=limits.max_url_bytes,
    )
    loop = asyncio.get_running_loop()
    sink = GatewayIntake(gateway, loop)
    server = make_server(app_factory(intake, sink.enqueue), api, limits)
    gateway.webhook_server = server
    finished: asyncio.Future[None] = loop.create_future()

    def body() -> None:
        outcome: BaseException | None = None
        try:
            run_server(server, sockets)
        except Exception as exc:  # handed to the gateway's task below
            outcome = exc
        except BaseException as exc:  # uvicorn's sys.exit(1) on a failed start: a future cannot carry it
            outcome = RuntimeError(f"the webhook listener stopped: {exc!r}")
        try:
            loop.call_soon_threadsafe(_settle, finished, outcome)
        except RuntimeError:  # the gateway loop is gone already
            pass

    thread = threading.Thread(target=body, name=THREAD_NAME, daemon=True)
    log.info(
        "webhook listener started",
        extra={"listen": intake.listen, "endpoints": sorted(intake.endpoints), "listener_thread": THREAD_NAME},
    )
    thread.start()
    try:
        await finished
    except asyncio.CancelledError:
        server.should_exit = True  # the gateway is going away without the usual stop: finish, then go
        thread.join(JOIN_GRACE)
        raise
    finally:
        for sock in sockets:
            sock.close()
    if not server.started and gateway.stop_event is not None and not gateway.stop_event.is_set():
        raise RuntimeError(f"the webhook listener could not listen on {intake.listen}")


def _settle(future: asyncio.Future[None], outcome: BaseException | None) -> None:
    if future.done():
        return
    if outcome is None:
        future.set_result(None)
    else:
        future.set_exception(outcome)
