"""The store interface: every read and write of runtime data goes through these verbs.

Dispatch, scheduler and API code only see this Protocol, so a PostgreSQL store can be added
beside `sqlite.py` without touching them. The store applies decisions; it never makes them
(the next status comes from `ductile.lifecycle`).

Contracts every implementation keeps:
- `enqueue` is durable when it returns: the job id it hands out is never lost.
- `claim` moves exactly one eligible job to `running` and opens its attempt record, atomically
  (with the plugin's pid when a `start` callback spawned it inside the claim).
- `finish` records the attempt, applies the decided status, merges plugin state and stores
  emitted events in ONE transaction; on `StateTooLarge` nothing is written.
- `total` of `list_jobs` is exact for every filter.
- A storage fault surfaces as `StoreUnavailable` (retryable) or `StoreDamaged` (the file is
  unusable), never as a driver exception (see `store/errors.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from ductile.jobs import (
    Attempt,
    AttemptQuery,
    AttemptRecord,
    BulkAction,
    EnqueueResult,
    Job,
    JobPage,
    JobQuery,
    NewJob,
    ScheduleState,
    StateChange,
    SummaryPage,
    Transition,
)
from ductile.lifecycle import Decision
from ductile.store.routing import EntryJob, Routing
from ductile.store.webhooks import Delivery, WebhookJob

if TYPE_CHECKING:
    from ductile.breaker.state import Change
    from ductile.stopwatch import Sample
    from ductile.store.errors import StoreUnavailable
    from ductile.store.stopwatch import StopwatchFilter
    from ductile.store.strips import History, HistoryRequest, Skip, SkipRequest

STATE_LIMIT = 1024 * 1024


class StoreError(Exception):
    """A store failure that is not the caller's fault."""


class SchemaTooNew(StoreError):
    """The database was written by a newer ductile; refuse rather than corrupt it."""


class StateTooLarge(StoreError):
    """Merged plugin state would exceed STATE_LIMIT; nothing was written."""


class Store(Protocol):
    # Set while writes fail with a storage fault (`StoreUnavailable`: disk full, I/O error,
    # read-only, locked); cleared by the next write that commits. Reads may still work.
    write_fault: StoreUnavailable | None

    def close(self) -> None: ...

    def probe_write(self) -> bool:
        """Commit one small real change; True (and `write_fault` cleared) when writes work again."""

    def start_checkpointer(self) -> None:
        """A long-running writer (the gateway) asks for housekeeping such as WAL checkpoints to
        run in the background rather than inside its commits. May do nothing."""

    def data_version(self) -> Hashable | None:
        """A value that changes whenever anything (this store or another process) commits a
        change to the database, so a poller (the schedule-health watcher) can skip re-reading
        what cannot have changed. None: this store cannot tell; treat every call as a change."""

    # -- job transitions --------------------------------------------------------------------
    def enqueue(
        self,
        job: NewJob,
        *,
        now: datetime,
        dedupe_since: datetime | None,
        enforce_dedupe: bool = True,
        schedule_state: ScheduleState | None = None,
    ) -> EnqueueResult:
        """Insert a queued job unless its dedupe key matches an active job (or a success after
        `dedupe_since`, when given); then return the existing job's id with created=False.
        `schedule_state`, when given, is written in the same transaction (scheduler fires)."""

    def enqueue_webhook(
        self, job: WebhookJob, *, now: datetime, delivery_since: datetime | None, dedupe_since: datetime | None
    ) -> EnqueueResult:
        """A webhook delivery (store/webhooks.py): the body stored verbatim; with a dedupe key, the
        job of (plugin, handle, key) created since `delivery_since` in any status, or an active /
        recently succeeded one, is returned instead (created=False). Look-up and insert are one
        transaction: two identical deliveries at once make one job."""

    def enqueue_webhooks(self, batch: list[Delivery]) -> list[EnqueueResult]:
        """Several deliveries (the webhook writer's burst) in ONE transaction, in the order given,
        each decided exactly as `enqueue_webhook` would (a redelivery of an id earlier in the same
        burst returns that job's id, created=False); one result per delivery. Each new job gets
        its delivery's pre-chosen `job_id`. All or nothing: on an error nothing is stored."""

    def claim(
        self, *, now: datetime, excluded_plugins: Collection[str] = (), start: Callable[[Job], int | None] | None = None
    ) -> Job | None:
        """Move the oldest eligible queued job to `running` and open its attempt, in ONE transaction.

        `start`, when given, is called inside that transaction with the claimed job, before the
        attempt row is written; it spawns the plugin and returns its pid (or None when nothing was
        spawned), which the attempt row stores for crash recovery. So claim, running transition
        and pid cost one commit (the dispatcher's hot path, issue 11). `start` must not raise (an
        exception rolls the claim back); if the commit fails after a spawn, the caller kills the
        process it started. Stores that cannot run a callback inside a transaction call it after
        the claim commits and then record the pid as `record_pid` does."""

    def finish(
        self,
        job: Job,
        record: AttemptRecord,
        decision: Decision,
        *,
        now: datetime,
        state_change: StateChange | None = None,
        events: list[dict[str, Any]] | None = None,
        routing: Routing | None = None,
    ) -> Job:
        """Record an attempt and apply the decision. With `routing`, a success also stores and
        routes the job's events (children, context rows) and a terminal decision fires hooks, in
        the same transaction; a routing error turns the decision into `failed` (pipelines.md §3.1)."""

    def finish_then_claim(
        self,
        job: Job,
        record: AttemptRecord,
        decision: Decision,
        *,
        now: datetime,
        state_change: StateChange | None = None,
        routing: Routing | None = None,
        excluded_plugins: Collection[str] = (),
        start: Callable[[Job], int | None] | None = None,
    ) -> tuple[Job, Job | None]:
        """`finish` and then `claim` (with `start`) in ONE transaction: a worker freed by a job
        takes the next one with one commit instead of two (issue 11). Returns the finished job and
        the claimed one (None when nothing is eligible). If the finish fails, nothing is claimed
        and the error is `finish`'s; if the commit fails after `start` spawned, the caller kills
        the process. A store may commit the two separately where one transaction could not keep
        `finish`'s writes visible to `start` (PostgreSQL with a state change or routed jobs)."""

    def enqueue_entries(self, entries: list[EntryJob], *, now: datetime, submitted_by: str) -> list[str]:
        """A pipeline start: every context row and entry job in one transaction; their ids."""

    def enqueue_many(
        self, jobs: list[NewJob], *, now: datetime, dedupe_since: datetime | None, audit: BulkAction | None = None
    ) -> tuple[list[EnqueueResult], int | None]:
        """Enqueue each job (dedupe enforced) and, with `audit`, its bulk-action row (acted,
        skipped and job_ids filled from the results) in one transaction; the results and the
        audit row id."""

    # -- retries and bulk actions (issue 13) ------------------------------------------------
    def retry_links(self, job_id: str) -> dict[str, Any]:
        """`{retry_of, retried_by}` for one job."""

    def record_bulk_action(self, action: BulkAction, *, now: datetime) -> int:
        """Append an audit row; its id."""

    def bulk_actions(self, limit: int = 50) -> list[BulkAction]:
        """Newest audit rows first."""

    def cancel(self, job_id: str, *, reason: str, now: datetime) -> Job | None: ...

    def running_jobs(self) -> list[Job]: ...

    def record_pid(self, job_id: str, attempt: int, pid: int) -> None:
        """Remember the plugin process of a running attempt (its pid is also its process group).
        The dispatcher records the pid through `claim(start=...)`; this is for other spawners."""

    def running_pids(self) -> dict[str, int]:
        """job_id → plugin pid for attempts still marked running; crash recovery kills leftovers."""

    # -- reads ------------------------------------------------------------------------------
    def get_job(self, job_id: str) -> Job | None: ...

    def list_jobs(self, query: JobQuery) -> JobPage: ...

    def list_job_summaries(self, query: JobQuery) -> SummaryPage:
        """`list_jobs` reduced to the card's fields (`Job.summary()` dicts): the hot API path."""

    def attempts(self, job_id: str) -> list[Attempt]: ...

    def list_attempts(self, query: AttemptQuery) -> list[Attempt]: ...

    def count_attempts(self, query: AttemptQuery) -> int: ...

    def finished_counts(self, since: str) -> dict[str, int]: ...

    def active_by_plugin(self) -> list[dict[str, Any]]: ...

    def transitions(self, job_id: str) -> list[Transition]: ...

    def emitted_events(self, job_id: str) -> list[dict[str, Any]]: ...

    # -- lineage (pipelines) ----------------------------------------------------------------
    def job_tree(self, job_id: str) -> list[Job]:
        """The job and every descendant by `parent_job_id`: root first, then by depth, then
        `created_at`, then insertion order (pipelines spec §6.2 O11). Unknown id → []."""

    def children(self, job_id: str) -> list[Job]:
        """Direct children, oldest first (created_at, then insertion order)."""

    def current_responses(self, job_ids: list[str]) -> dict[str, Any]:
        """job_id → the stored plugin response of each job's current attempt, where there is one."""

    def get_context(self, context_id: str) -> dict[str, Any] | None:
        """One event_contexts row as `{id, parent_id, pipeline, step_id, instance_id, accumulated,
        created_at}` (`accumulated` decoded), or None."""

    def context_lineage(self, context_id: str) -> list[dict[str, Any]]:
        """The context and its ancestors by parent_id, root first (shape of `get_context`)."""

    def pipeline_instance(self, pipeline: str) -> dict[str, Any] | None:
        """The pipeline's most recent instance (the one its newest step job belongs to):
        `{instance_id, entry_job_id, jobs: [{job_id, plugin, command, pipeline, step_id, status,
        created_at, started_at, completed_at}]}` in tree order; None when it never ran."""

    def schedule_runs(
        self, plugin: str, command: str, key: str, limit: int
    ) -> tuple[list[tuple[str, str | None]], str | None]:
        """A schedule entry's (dedupe key `key`) newest `limit` finished runs, newest first, as
        (status, completed_at), and its last success's completed_at (schedule health)."""

    def schedule_histories(self, requests: Sequence[HistoryRequest], limit: int) -> list[History]:
        """Per (plugin, command, key, since) request, in order: the schedule entry's jobs created at
        or after `since`, newest first, at most `limit`, as (created_at, status) — every run strip
        of the overview in one read."""

    def record_schedule_skip(
        self, instance: str, schedule_id: str, command: str, *, at: datetime, reason: str, slot: datetime | None
    ) -> None:
        """Keep one scheduler skip (store/strips.py; kept until pruned by `prune_schedule_skips`)."""

    def schedule_skips(self, requests: Sequence[SkipRequest], limit: int) -> list[list[Skip]]:
        """Per (instance, schedule_id, since) request, in order: its skips at or after `since`,
        newest first, at most `limit`, as `Skip(at, reason, slot)`."""

    def prune_schedule_skips(self, cutoff: datetime, batch: int = 1000) -> int:
        """Delete at most `batch` skips recorded before `cutoff`; call again until 0."""

    def emitted_with_children(self, job_id: str) -> list[dict[str, Any]]:
        """The job's emitted events `{event_id, type, payload, created_at, children: [job_id]}`,
        oldest first; children are the jobs routing started from that event."""

    def status_counts(self) -> dict[str, int]: ...

    # -- stopwatch (store/stopwatch.py: the attempts are the timing ledger; no table of its own) --
    def stopwatch_samples(
        self, plugin: str, since: datetime, until: datetime, *, max_subs: int | None, limit: int
    ) -> tuple[list[Sample], bool]:
        """The plugin's timed attempts started in [since, until], newest first, at most `limit`,
        and whether there were more; with `max_subs`, each one's first `max_subs` sub-span objects
        (JSON text). Safe to call from a worker thread: it never holds the writer's connection."""

    def stopwatch_count(self, match: StopwatchFilter, limit: int) -> int:
        """How many timed attempts `match` selects, counting at most `limit`."""

    def stopwatch_clear_subs(self, match: StopwatchFilter, limit: int) -> int:
        """Remove `ductile_stopwatch_subs` (or only the entries named `match.span`) from the stored
        responses of the oldest `limit` attempts `match` selects, in one transaction; how many changed."""

    def count_active(self, plugin: str, command: str, dedupe_key: str) -> int: ...

    def next_retry_due(self, now: datetime) -> datetime | None: ...

    # -- plugin and schedule state ----------------------------------------------------------
    def get_state(self, instance: str) -> dict[str, Any]: ...

    def all_states(self) -> dict[str, dict[str, Any]]: ...

    def schedule_states(self) -> dict[tuple[str, str], ScheduleState]: ...

    def put_schedule_state(self, state: ScheduleState) -> None: ...

    def outstanding_scheduler_jobs(self, plugin: str, command: str) -> list[str]:
        """Ids of queued/running jobs the scheduler submitted for plugin+command, oldest first
        (`if_running: cancel` cancels exactly these, pipelines.md O8)."""
        ...

    # -- upkeep -----------------------------------------------------------------------------
    def prune(self, cutoffs: dict[str, datetime], batch: int = 1000) -> int:
        """Delete finished jobs (with attempts, transitions, events) of each status completed
        before its cutoff, at most `batch` per status per call, each batch its own transaction;
        returns how many went. Call again until 0, so a large backlog never holds the writer long."""

    # -- circuit breaker (pipelines.md §8; sqlite: store/breaker.py) -------------------------
    # `finish` and `cancel` feed the breaker of a scheduler-submitted job that ends, in their own
    # transaction; transitions reach the configured listener only after that commit.
    def configure_breakers(
        self,
        *,
        thresholds: dict[str, int],
        reset_after: dict[str, float],
        submitters: frozenset[str] = ...,
        listener: Callable[[list[Change]], None] | None = None,
    ) -> None:
        """Per-plugin threshold and cooldown (seconds), which `submitted_by` values are the
        scheduler, and who hears about transitions (the gateway: SSE)."""

    def breaker_gate(self, plugin: str, command: str, now: datetime) -> str | None:
        """None = the due run may go; "circuit_open" = skip it. Moves open → half_open once the
        cooldown elapsed (transition `cooldown_elapsed`)."""

    def reset_breaker(self, plugin: str, command: str, now: datetime) -> Change:
        """Operator reset to closed; always records a `manual_reset` transition."""

    def breaker_rows(self) -> list[dict[str, Any]]:
        """Every `circuit_breakers` row (plugin, command order)."""

    def breaker_row(self, plugin: str, command: str) -> dict[str, Any] | None: ...

    def breaker_transitions(self, plugin: str, command: str, limit: int = 20) -> list[dict[str, Any]]:
        """Newest first."""

    def count_open_breakers(self) -> int: ...

    def prune_breaker_transitions(self, cutoff: datetime, batch: int = 1000) -> int:
        """Delete at most `batch` transitions created before `cutoff`; call again until 0."""
