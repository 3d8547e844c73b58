"""Delete finished jobs older than `service.job_retention` (per status), hourly, and the
scheduler's skip records (store/strips.py) with the retention of a `skipped` job; on PostgreSQL
also the dashboard sessions idle past `api.ui.session_ttl` (store/pg_ui_sessions.py: a session
nobody uses again is otherwise only removed by a later sign-in).

Retention defaults to 30 days because "why did it fail last week" must stay answerable.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from ductile.lifecycle import TERMINAL
from ductile.store import Store
from ductile.store.offload import off_loop
from ductile.timeutil import utcnow
from ductile.ui.throttle import WINDOW as LOGIN_WINDOW

log = logging.getLogger(__name__)
INTERVAL = 3600.0


def cutoffs(retention: dict[str, float], now: datetime) -> dict[str, datetime]:
    """Per terminal status, the completion time before which a job is removed. Pure."""
    default = retention.get("default", 30 * 86400.0)
    return {s.value: now - timedelta(seconds=retention.get(s.value, default)) for s in TERMINAL}


async def run(
    store: Store,
    retention: dict[str, float],
    stop: asyncio.Event,
    *,
    breaker_retention: float | None = None,
    ui_session_ttl: float | None = None,
) -> None:
    """`breaker_retention` (seconds, `service.breaker_transitions_retention`): circuit breaker
    transitions older than this go too; None keeps them. `ui_session_ttl`: dashboard sessions in
    the store idle longer than this go, and failed sign-ins older than the login window (None:
    neither is in the store)."""
    while not stop.is_set():
        try:
            limits = cutoffs(retention, utcnow())
            await _in_batches(store.prune, store, limits, "pruned finished jobs")
            await prune_schedule_skips(store, limits["skipped"])
            if breaker_retention is not None:
                await prune_breaker_transitions(store, utcnow() - timedelta(seconds=breaker_retention))
            if ui_session_ttl is not None:
                await prune_ui_sessions(store, utcnow() - timedelta(seconds=ui_session_ttl))
                await prune_ui_login_failures(store, utcnow() - timedelta(seconds=LOGIN_WINDOW))
        except Exception:
            log.exception("pruning failed; will try again")
        try:
            await asyncio.wait_for(stop.wait(), timeout=INTERVAL)
        except TimeoutError:
            pass


async def prune_breaker_transitions(store: Store, cutoff: datetime) -> int:
    """Delete circuit breaker transitions created before `cutoff`, in batches; how many went."""
    return await _in_batches(store.prune_breaker_transitions, store, cutoff, "pruned circuit breaker transitions")


async def prune_ui_sessions(store: Store, cutoff: datetime) -> int:
    """Delete dashboard sessions last seen before `cutoff` (PostgreSQL store), in batches."""
    delete = store.prune_ui_sessions  # type: ignore[attr-defined]  # PostgresStore only
    return await _in_batches(delete, store, cutoff, "pruned idle dashboard sessions")


async def prune_ui_login_failures(store: Store, cutoff: datetime) -> int:
    """Delete failed dashboard sign-ins recorded before `cutoff` (PostgreSQL store), in batches."""
    delete = store.prune_ui_login_failures  # type: ignore[attr-defined]  # PostgresStore only
    return await _in_batches(delete, store, cutoff, "pruned old failed dashboard sign-ins")


async def prune_schedule_skips(store: Store, cutoff: datetime) -> int:
    """Delete scheduler skips recorded before `cutoff`, in batches; how many went. Skips are kept
    as long as a `skipped` job would be: the run strip shows them beside the jobs of their time."""
    return await _in_batches(store.prune_schedule_skips, store, cutoff, "pruned schedule skips")


async def _in_batches(delete: Callable[[Any], int], store: Store, limit: Any, message: str) -> int:
    """Call `delete(limit)` off the loop until a batch removes nothing, letting jobs and API
    requests in between batches; log the total once."""
    removed = 0
    while batch_removed := await off_loop(store, delete, limit):
        removed += batch_removed
        await asyncio.sleep(0)
    if removed:
        log.info(message, extra={"removed": removed})
    return removed
