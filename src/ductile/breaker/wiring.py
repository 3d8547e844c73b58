"""What the gateway needs to run breakers: settings from config, SSE for transitions, the gate.

Kept out of gateway.py so the composition root only gains a couple of lines.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from ductile.breaker.state import HALF_OPEN, Change
from ductile.config import Config
from ductile.events import EventHub
from ductile.store.breaker import SCHEDULER_SUBMITTER
from ductile.store.offload import on_loop

log = logging.getLogger("ductile.scheduler")


def settings(config: Config) -> dict[str, Any]:
    """Keyword arguments for `Store.configure_breakers` (without the listener)."""
    plugins = config.plugins
    return {
        "thresholds": {name: spec.circuit_breaker.threshold for name, spec in plugins.items()},
        "reset_after": {name: spec.circuit_breaker.reset_after for name, spec in plugins.items()},
        # ours writes `scheduler`; Ductile (and its configs' tooling) knows the scheduler as service.name
        "submitters": frozenset({SCHEDULER_SUBMITTER, config.service.name}),
    }


def publisher(hub: EventHub) -> Callable[[list[Change]], None]:
    """The store's listener: one `scheduler.circuit_state_changed` per transition (plus
    `scheduler.circuit_half_open` on entering half_open), and a log line, after the commit. On
    PostgreSQL the commit happens on a store worker thread: the events go out on the loop."""

    def publish(changes: list[Change]) -> None:
        for change in changes:
            data = {
                "plugin": change.plugin,
                "command": change.command,
                "previous_state": change.from_state,
                "state": change.to_state,
                "failure_count": change.failure_count,
                "reason": change.reason,
                "job_id": change.job_id,
            }
            log.warning("circuit breaker changed state", extra=data)
            hub.publish("scheduler.circuit_state_changed", data)
            if change.to_state == HALF_OPEN:
                hub.publish("scheduler.circuit_half_open", {"plugin": change.plugin, "command": change.command})

    return functools.partial(on_loop, publish)
