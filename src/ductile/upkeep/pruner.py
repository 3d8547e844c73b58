"""Delete finished jobs older than `service.job_retention` (per status), hourly.

Retention defaults to 30 days because "why did it fail last week" must stay answerable.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from ductile.lifecycle import TERMINAL
from ductile.store import Store
from ductile.timeutil import utcnow

log = logging.getLogger(__name__)
INTERVAL = 3600.0


def cutoffs(retention: dict[str, float], now: datetime) -> dict[str, datetime]:
    """Per terminal status, the completion time before which a job is removed. Pure."""
    default = retention.get("default", 30 * 86400.0)
    return {s.value: now - timedelta(seconds=retention.get(s.value, default)) for s in TERMINAL}


async def run(store: Store, retention: dict[str, float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            limits = cutoffs(retention, utcnow())
            removed = 0
            while batch_removed := store.prune(limits):
                removed += batch_removed
                await asyncio.sleep(0)  # let jobs and API requests in between batches
            if removed:
                log.info("pruned finished jobs", extra={"removed": removed})
        except Exception:
            log.exception("pruning failed; will try again")
        try:
            await asyncio.wait_for(stop.wait(), timeout=INTERVAL)
        except TimeoutError:
            pass
