"""Typed messages from the monitor's network workers to its widgets.

Workers never touch widgets directly: they post these, and the app routes them, so a flood of
events turns into cheap model updates plus one throttled redraw.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message


@dataclass
class ConnectionChanged(Message):
    """`state` is one of: connecting, live, polling, disconnected."""

    state: str
    detail: str = ""


@dataclass
class HealthUpdated(Message):
    health: dict[str, Any]


@dataclass
class JobsFetched(Message):
    jobs: list[dict[str, Any]]


@dataclass
class SchedulesFetched(Message):
    schedules: list[dict[str, Any]]


@dataclass
class JobEvents(Message):
    """The hub events of one network read, applied together: `(type, data, at)` each."""

    events: list[tuple[str, dict[str, Any], str]]
