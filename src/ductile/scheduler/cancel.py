"""`if_running: cancel` for a running job: SIGTERM to its process group, up to a grace, then SIGKILL
(pipelines.md O8). Built from the dispatcher's own cancel, which marks the job dead and kills.

Order matters: the job is marked `dead` *before* the signal, so whatever the plugin does while it
shuts down (exit non-zero, print a result) cannot turn it into a failure, a retry or a success —
the dispatcher's attempt to record that finds the job already ended and leaves it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from typing import Any

from ductile.store import Store
from ductile.timeutil import utcnow

POLL = 0.05


def graceful_canceller(store: Store, dispatcher: Any, grace: float) -> Any:
    """A `Canceller` for the scheduler: (job_id, reason) → awaitable."""

    async def cancel(job_id: str, reason: str) -> None:
        pid = store.running_pids().get(job_id)  # read before the job stops being `running`
        store.cancel(job_id, reason=reason, now=utcnow())
        if pid and job_id in dispatcher.running:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGTERM)  # the plugin is its group's leader (start_new_session)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + grace
            while job_id in dispatcher.running and loop.time() < deadline:
                await asyncio.sleep(POLL)
        await dispatcher.cancel(job_id, reason)  # SIGKILL whatever is left; publishes job.dead

    return cancel
