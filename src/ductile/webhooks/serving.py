"""The webhook listener's own threads: its event loop, and the writer that stores its jobs.

Why: on the gateway's loop a delivery waited behind every API request, the dispatcher and the
scheduler, and each enqueue hopped to a worker pool thread and back. Under 16 concurrent senders
the p99 was 5-8x the one-sender p99. Now:

- the listener's uvicorn server runs on a loop of its own, in the thread `ductile-webhooks`;
- its jobs are written by one thread, `ductile-webhook-writer`, which takes every delivery
  waiting when it is free and commits them in one transaction (`enqueue_webhooks`, both stores;
  a lone delivery is one `enqueue_webhook`), then answers the whole burst with one hand-off back
  to the listener's loop. If the burst's transaction fails, each of its deliveries is stored on
  its own, so one bad delivery gets its 500 and the others their 202. The request waits up to
  ENQUEUE_BOUND (§7.3 step 5: 500 after 10 s); the write is queued as soon as the request is checked and nothing cancels it — a
  sender hanging up, or the bound passing, only means nobody reads the answer;
- what must happen on the gateway's loop — SSE `job.queued` (the hub and its subscribers'
  queues belong to that loop), the metrics tap, the dispatcher wake-up — is handed over with
  `call_soon_threadsafe`, once per burst, and the dispatcher is woken once, after the burst's
  `job.queued` events.

The sockets are bound by the gateway before any job runs (`listener.bind`), as before. Stopping
sets `should_exit` on the server: it finishes the requests in progress, then the writer finishes
every write it was given, and only then does the listener's task end (and the store close).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ductile.jobs import EnqueueResult
from ductile.store.webhooks import Delivery, WebhookJob
from ductile.timeutil import add_seconds, utcnow
from ductile.webhooks.config import Endpoint, Intake

if TYPE_CHECKING:
    from datetime import datetime

    from ductile.gateway import Gateway
    from ductile.store.base import Store

log = logging.getLogger("ductile.webhooks")

THREAD_NAME = "ductile-webhooks"
WRITER_NAME = "ductile-webhook-writer"
ENQUEUE_BOUND = 10.0  # seconds a sender waits for its job to be stored before it gets 500 (§7.3 step 5)
MAX_BURST = 256  # deliveries per transaction at most
JOIN_GRACE = 5.0  # seconds a cancelled gateway waits for the listener thread to finish its requests


class GatewayIntake:
    """The listener's side of the gateway: hands its jobs to the writer thread, and announces
    the stored ones on the gateway's loop (`loop`)."""

    def __init__(self, gateway: Gateway, loop: asyncio.AbstractEventLoop, clock: Callable[[], datetime] = utcnow):
        self.gateway = gateway
        self.loop = loop
        self.clock = clock
        self._lock = threading.Lock()
        self._pending: list[tuple[WebhookJob, EnqueueResult]] = []
        self.writer = Writer(self)

    async def enqueue(self, endpoint: Endpoint, job: WebhookJob) -> EnqueueResult:
        """The listener's `enqueue` (on the listener's loop): hand the job to the writer and wait
        for it, at most ENQUEUE_BOUND. Cancelling this wait cancels nothing but the wait."""
        gw = self.gateway
        instance = gw.registry.get(endpoint.plugin)
        max_attempts = instance.spec.retry.max_attempts if instance is not None else 4
        job = WebhookJob(job.plugin, job.payload_text, job.submitted_by, max_attempts, job.dedupe_key, job.command)
        now = self.clock()
        delivery = Delivery(
            job,
            now=now,
            delivery_since=add_seconds(now, -endpoint.delivery_ttl) if job.dedupe_key else None,
            dedupe_since=add_seconds(now, -gw.config.service.dedupe_ttl),
        )
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[EnqueueResult] = loop.create_future()
        self.writer.put(Pending(delivery, answer, loop))
        return await asyncio.wait_for(answer, ENQUEUE_BOUND)

    def stored(self, job: WebhookJob, result: EnqueueResult) -> None:
        """On the writer's thread, once the job's transaction committed."""
        if not result.created:
            return
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


@dataclass(frozen=True)
class Pending:
    delivery: Delivery
    answer: asyncio.Future[EnqueueResult]  # on `loop`, the listener's
    loop: asyncio.AbstractEventLoop


class Writer:
    """The thread that stores webhook jobs: a burst per transaction, in arrival order."""

    def __init__(self, intake: GatewayIntake) -> None:
        self.intake = intake
        self.queue: queue.SimpleQueue[Pending | None] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name=WRITER_NAME, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def put(self, pending: Pending) -> None:
        self.queue.put(pending)

    def close(self) -> None:
        """Finish every write already given, then stop (blocking: call from a thread)."""
        if self.thread.is_alive():
            self.queue.put(None)
            self.thread.join()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self.queue.get()
            if first is None:
                return
            burst = [first]
            while len(burst) < MAX_BURST:
                try:
                    more = self.queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                burst.append(more)
            try:
                self._write(burst)
            except Exception:  # never lose the writer: these senders get 500 at the bound, later ones are served
                log.exception("webhook writer failed on a burst", extra={"deliveries": len(burst)})

    def _write(self, burst: list[Pending]) -> None:
        store = self.intake.gateway.store
        assert store is not None
        outcomes: list[EnqueueResult | BaseException]
        if len(burst) == 1:
            outcomes = [_one(store, burst[0].delivery)]
        else:
            try:
                outcomes = list(store.enqueue_webhooks([p.delivery for p in burst]))
            except Exception as exc:  # the burst's transaction failed: each on its own, each with its own answer
                log.warning(
                    "webhook burst failed; storing each delivery on its own",
                    extra={"deliveries": len(burst), "error": f"{type(exc).__name__}: {exc}"},
                )
                outcomes = [_after_failed_burst(store, p.delivery) for p in burst]
        for pending, outcome in zip(burst, outcomes, strict=True):
            if isinstance(outcome, EnqueueResult):
                self.intake.stored(pending.delivery.job, outcome)
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[EnqueueResult], object]]] = {}
        for pending, outcome in zip(burst, outcomes, strict=True):
            by_loop.setdefault(pending.loop, []).append((pending.answer, outcome))
        for loop, answers in by_loop.items():
            try:
                loop.call_soon_threadsafe(_answer_all, answers)
            except RuntimeError:  # the listener's loop is gone: nobody waits for these answers
                pass


def _after_failed_burst(store: Store, delivery: Delivery) -> EnqueueResult | BaseException:
    """One delivery of a burst whose transaction raised. The error may have come after the
    commit (a connection lost during COMMIT on PostgreSQL): a job already stored under the
    delivery's pre-chosen id is that delivery's — answered and announced, not inserted twice."""
    try:
        stored = store.get_job(delivery.job_id)
    except Exception as exc:  # the store cannot even be read: this sender gets 500
        return exc
    if stored is not None:
        return EnqueueResult(job_id=stored.job_id, created=True, status=stored.status)
    return _one(store, delivery)


def _one(store: Store, delivery: Delivery) -> EnqueueResult | BaseException:
    try:
        return store.enqueue_webhook(
            delivery.job,
            now=delivery.now,
            delivery_since=delivery.delivery_since,
            dedupe_since=delivery.dedupe_since,
        )
    except Exception as exc:  # this sender gets 500; the others are unaffected
        return exc


def _answer_all(answers: list[tuple[asyncio.Future[EnqueueResult], object]]) -> None:
    """On the listener's loop: a sender that hung up, or waited past the bound, is skipped."""
    for answer, outcome in answers:
        if answer.done():
            continue
        if isinstance(outcome, BaseException):
            answer.set_exception(outcome)
        else:
            answer.set_result(outcome)  # type: ignore[arg-type]


async def _listen(server: object, sockets: list[socket.socket], writer: Writer) -> None:
    """The listener thread's loop: serve until `should_exit`, then let the writer finish."""
    try:
        await server.serve(sockets=sockets)  # type: ignore[attr-defined]
    finally:
        await asyncio.get_running_loop().run_in_executor(None, writer.close)


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
    gateway.webhook_writer = sink.writer
    finished: asyncio.Future[None] = loop.create_future()

    def body() -> None:
        outcome: BaseException | None = None
        try:
            asyncio.run(_listen(server, sockets, sink.writer))
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
    sink.writer.start()
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
