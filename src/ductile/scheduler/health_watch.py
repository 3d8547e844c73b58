"""Schedule health at the edges: gather each entry's evidence from the store, judge it with the
pure `scheduler.health.assess`, and tell people when a judgement changes.

`watch` re-judges every entry every few seconds and publishes `schedule.health_changed` (and a
log line) on each change, so a person tailing events, an agent on SSE, or Prometheus sees a
schedule go late, failing or stale without polling `/schedules`. The store reads behind a
judgement are re-done only when the database changed since (`Reads`).
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ductile.scheduler.due import cron_next
from ductile.scheduler.entries import ACTIVE, Entry
from ductile.scheduler.health import Evidence, Health, HealthPolicy, assess, interval_of
from ductile.store import StoreError
from ductile.store.offload import blocking, off_loop

if TYPE_CHECKING:
    from ductile.gateway import Gateway

log = logging.getLogger(__name__)
WATCH_INTERVAL = 5.0
RECENT = 10  # finished runs read per entry: enough to count `failing_after` up to 10


def policy_of(config: Any) -> HealthPolicy:
    h = config.service.schedule_health
    return HealthPolicy(late_after=h.late_after, failing_after=h.failing_after, stale_after=h.stale_after)


Runs = tuple[list[tuple[str, str | None]], str | None]  # store.schedule_runs: (runs, last success)


def evidence(
    entry: Entry, store: Any, watched_since: datetime, limit: int = RECENT, runs_read: Runs | None = None
) -> tuple[Evidence, int]:
    """The entry's evidence, and how many finished runs were looked at. `runs_read`: the
    entry's `store.schedule_runs` result when the caller already has it (the watcher's cache)."""
    spec = entry.spec
    if runs_read is None:
        runs_read = store.schedule_runs(entry.instance, spec.command, entry.key, limit)
    runs, last_success = runs_read
    failures = 0
    last_failure = None
    for status, completed_at in runs:
        if status == "succeeded":
            break
        failures += 1
        last_failure = last_failure or completed_at
    if last_failure is None:
        last_failure = next((done for status, done in runs if status != "succeeded"), None)
    active = entry.status == ACTIVE
    next_fire = entry.fire_at if active else None
    after_next = None
    if spec.cron and next_fire is not None:
        after_next = cron_next(spec.cron, spec.timezone, next_fire)
    return (
        Evidence(
            entry_status=entry.status,
            next_fire=next_fire,
            interval=None if spec.one_shot else interval_of(spec.every, next_fire, after_next),
            watched_since=watched_since,
            last_success_at=last_success,
            last_failure_at=last_failure,
            consecutive_failures=failures,
        ),
        len(runs),
    )


def judge(entry: Entry, store: Any, watched_since: datetime, policy: HealthPolicy, now: datetime) -> dict[str, Any]:
    """The `health` object of one `/schedules` entry: state, reason and the evidence behind it."""
    e, _ = evidence(entry, store, watched_since, max(RECENT, policy.failing_after))
    return health_view(assess(e, now, policy), e)


def cached(gw: Any, entry: Entry, moment: float, max_age: float = 2 * WATCH_INTERVAL) -> dict[str, Any] | None:
    """The watcher's judgement of `entry` if its last round is younger than `max_age` seconds
    (`moment` is time.monotonic()) and the entry has neither fired nor changed status since:
    the dashboard shows it instead of judging 200 entries again (two reads each) per render.
    None: judge live."""
    at = getattr(gw, "schedule_health_at", None)
    found = gw.schedule_health.get((entry.instance, entry.spec.id))
    if at is None or found is None or moment - at > max_age:
        return None
    health, e = found
    next_fire = entry.fire_at if entry.status == ACTIVE else None
    if e.entry_status != entry.status or e.next_fire != next_fire:
        return None
    return health_view(health, e)


def health_view(h: Health, e: Evidence) -> dict[str, Any]:
    return {
        "state": h.state,
        "reason": h.reason,
        "last_success_at": e.last_success_at,
        "last_failure_at": e.last_failure_at,
        "consecutive_failures": e.consecutive_failures,
        "expected_next": e.next_fire.isoformat().replace("+00:00", "Z") if e.next_fire else None,
        "interval_seconds": e.interval,
    }


class Reads:
    """The watcher's copy of each entry's store reads, valid while the database is unchanged.

    A round re-reads an entry's runs only when `store.data_version()` moved since the reads were
    taken (anything committed: a run finished, a job pruned), or the entry is new. Everything
    else a judgement looks at (the entry's status and next fire, the time) is taken afresh every
    round, so the judgements are those of a full re-read; an idle gateway's rounds cost no reads.
    """

    def __init__(self) -> None:
        self.version: Any = None  # data_version the cached reads were taken at; None: none valid
        self.runs: dict[tuple[str, str, str, int], Runs] = {}

    def valid_at(self, version: Any) -> bool:
        """Whether the cache may be used at `version` (None: the store cannot tell: never)."""
        return version is not None and version == self.version

    def start_round(self, version: Any) -> None:
        """Forget the cached reads unless the database is still at the version they were taken."""
        if not self.valid_at(version):
            self.runs.clear()
        self.version = version


async def watch(gw: Gateway, stop: asyncio.Event, interval: float = WATCH_INTERVAL) -> None:
    """Re-judge every entry every `interval` seconds; publish and log each change."""
    from ductile.timeutil import from_text

    policy = policy_of(gw.config)
    since = from_text(gw.started_at)
    last: dict[tuple[str, str], Health] = {}
    reads = Reads()
    while not stop.is_set():
        try:
            await _round(gw, policy, since, last, reads)
        except Exception:  # a monitoring feature must never stop the gateway that runs the jobs
            log.exception("schedule health round failed; trying again next round")
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval)
        except TimeoutError:
            pass


def _gather(
    entries: list[Entry], store: Any, since: datetime, limit: int, reads: Reads | None = None
) -> list[tuple[Entry, Evidence]]:
    """Each entry's evidence, in order, up to the first read that fails (the round stops there:
    /healthz says so; judge again next round). One store call: off the loop on PostgreSQL.
    With `reads`, an entry's runs are read only if the database changed since they were cached."""
    out: list[tuple[Entry, Evidence]] = []
    if reads is not None and entries:
        try:
            reads.start_round(store.data_version())
        except StoreError:
            return out
    for entry in entries:
        key = (entry.instance, entry.spec.command, entry.key, limit)
        cached = reads.runs.get(key) if reads is not None else None
        try:
            if cached is None:
                cached = store.schedule_runs(entry.instance, entry.spec.command, entry.key, limit)
            e, _ = evidence(entry, store, since, limit, cached)
        except StoreError:
            break
        if reads is not None:
            reads.runs[key] = cached
        out.append((entry, e))
    return out


async def _round(
    gw: Gateway,
    policy: HealthPolicy,
    since: datetime,
    last: dict[tuple[str, str], Health],
    reads: Reads | None = None,
) -> None:
    from ductile.timeutil import utcnow

    scheduler, store = gw.scheduler, gw.store
    if scheduler is None or store is None:
        return
    now = utcnow()
    # On PostgreSQL the reads run on a store thread: it reads copies of the loop's entries; the
    # judgements are applied and published back here on the loop.
    entries = [copy.copy(e) for e in scheduler.entries] if blocking(store) else list(scheduler.entries)
    limit = max(RECENT, policy.failing_after)
    gathered = await off_loop(store, _gather, entries, store, since, limit, reads)
    for entry, e in gathered:
        health = assess(e, now, policy)
        key = (entry.instance, entry.spec.id)
        before = last.get(key)
        last[key] = health
        gw.schedule_health[key] = (health, e)
        if before is not None and before.state == health.state:
            continue
        data = {
            "plugin": entry.instance,
            "schedule_id": entry.spec.id,
            "command": entry.spec.command,
            "previous": before.state if before else None,
            "health": health.state,
            "reason": health.reason,
        }
        if before is not None or health.unhealthy:
            gw.hub.publish("schedule.health_changed", data)
            level = logging.WARNING if health.unhealthy else logging.INFO
            log.log(level, "schedule health changed", extra=data)
    gw.schedule_health_at = time.monotonic()
