"""What the overview shows, gathered from the running gateway: `GET /schedules` (with its health
judgement), each entry's recent jobs and the scheduler's recorded skips for the run strip (both
read for every entry in one statement each, store/strips.py), and the queue figures `/healthz`
reports."""

from __future__ import annotations

import itertools
import threading
import time
from datetime import UTC, datetime
from typing import Any

from ductile.api.routers.schedules import schedules_body
from ductile.scheduler import health_watch
from ductile.store import StoreError
from ductile.store.strips import HistoryRequest, SkipRequest
from ductile.timeutil import from_text, to_text
from ductile.ui import strip

SLOTS = 24  # cells per strip: fits a phone's width and a day of hourly runs


def run_strips(gw: Any, entries: list[Any], now: datetime, count: int = SLOTS) -> list[list[strip.Cell]]:
    """Each entry's strip, in order: its slots, its jobs and its recorded skips in view. The jobs
    and the skips of all entries are two store reads, however many schedules there are."""
    slots_of = [strip.past_slots(e.spec, e.slot, now, count) for e in entries]
    drawn = [i for i, slots in enumerate(slots_of) if slots]
    limit = count * 4
    since = {i: to_text(slots_of[i][0]) for i in drawn}
    histories = gw.store.schedule_histories(
        [HistoryRequest(entries[i].instance, entries[i].spec.command, entries[i].key, since[i]) for i in drawn], limit
    )
    skips = gw.store.schedule_skips([SkipRequest(entries[i].instance, entries[i].spec.id, since[i]) for i in drawn], limit)
    policy = health_watch.policy_of(gw.config)
    started = from_text(gw.started_at)
    out: list[list[strip.Cell]] = [[] for _ in entries]
    for i, history, skipped in zip(drawn, histories, skips, strict=True):
        out[i] = _cells(slots_of[i], history, [_stored_time(s.at) for s in skipped], now, started, policy, limit)
    return out


def _stored_time(text: str) -> datetime:
    """A time as the store writes it (`to_text`: `2026-11-29T10:00:00.000000Z`). Python 3.11's
    `fromisoformat` reads that `Z` itself, ~40 times faster than `from_text` (which also accepts
    other RFC 3339 spellings): with 200 strips of up to 96 jobs, `from_text` was most of the
    overview's data time. Anything else still goes through `from_text`."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is UTC else from_text(text)


def _cells(
    slots: list[datetime],
    history: list[tuple[str, str]],
    skips: list[datetime],
    now: datetime,
    started: datetime,
    policy: Any,
    limit: int,
) -> list[strip.Cell]:
    jobs = [(_stored_time(created), status) for created, status in history]
    floor: datetime | None = started
    if jobs and len(history) < limit:
        floor = min(started, *(created for created, _ in jobs))
    elif jobs:
        floor = None  # the window is full of runs: draw every slot
    interval = (slots[-1] - slots[-2]).total_seconds() if len(slots) > 1 else policy.late_after
    grace = min(policy.late_after, interval * 2 + 5)
    return strip.cells(slots, jobs, skips, now, floor=floor, grace=grace)


def figures(gw: Any) -> dict[str, Any]:
    """Queue depth, workers busy, breakers open: the numbers `/healthz` reports."""
    try:
        counts = gw.store.status_counts()
    except StoreError:
        counts = {}
    try:
        breakers_open: int | None = gw.store.count_open_breakers()
    except StoreError:
        breakers_open = None
    return {
        "queued": counts.get("queued", 0),
        "running": counts.get("running", 0),
        "queue_depth": counts.get("queued", 0) + counts.get("running", 0),
        "workers_busy": gw.dispatcher.busy if gw.dispatcher is not None else 0,
        "max_workers": gw.config.service.max_workers,
        "breakers_open": breakers_open,
    }


# Every open dashboard re-fetches the overview when jobs run: it is computed by one request at a
# time and shared by all of them for at least SHARED_FOR seconds, and for four times as long as
# the last computation took, so the dashboards together never take more than about a fifth of
# the gateway's time however many are open (the dispatcher shares the process).
SHARED_FOR = 1.0
# While jobs run, events make every open dashboard re-fetch (each at most every 3 s, ui.js): the
# data is then shared for longer, so five dashboards cost one computation per 2.5 s rather than
# one a second, and the page's trailing fetch (4.5 s after the last event) still sees the end.
SHARED_WHILE_BUSY = 2.5
_lock = threading.Lock()
_generations = itertools.count(1)  # tells renderings of different data apart
_shared: dict[int, tuple[float, float, dict[str, Any]]] = {}  # id(gw) -> (computed at, valid for, data)


def overview(gw: Any, now: datetime, count: int = SLOTS) -> dict[str, Any]:
    """The overview's data (what a viewer may see of it is decided per session, when rendering)."""
    return shared(gw, now, count)[0]


def shared(gw: Any, now: datetime, count: int = SLOTS) -> tuple[dict[str, Any], bool]:
    """The overview's data, and whether this call computed it (False: shared from another)."""
    with _lock:
        cached = _shared.get(id(gw))
        moment = time.monotonic()
        if cached is not None and moment - cached[0] < cached[1]:
            return cached[2], False
        data = {**compute(gw, now, count), "generation": next(_generations)}
        took = time.monotonic() - moment
        data["took_ms"] = round(took * 1000, 1)
        _shared.clear()  # one gateway per process: keep only the latest
        figures_now = data["figures"]
        busy = figures_now["queue_depth"] > 0 or figures_now["workers_busy"] > 0
        _shared[id(gw)] = (time.monotonic(), max(SHARED_WHILE_BUSY if busy else SHARED_FOR, 9 * took), data)
        return data, True


def compute(gw: Any, now: datetime, count: int = SLOTS) -> dict[str, Any]:
    body = schedules_body(gw, cached_health=True)
    entries = {(e.instance, e.spec.id): e for e in (gw.scheduler.entries if gw.scheduler is not None else [])}
    found = [entries.get((item["instance"], item["schedule_id"])) for item in body["schedules"]]
    known = [e for e in found if e is not None]
    strips = iter(run_strips(gw, known, now, count))
    rows = [{**item, "cells": next(strips) if e is not None else []} for item, e in zip(body["schedules"], found, strict=True)]
    return {"schedules": rows, "figures": figures(gw), "now": body["now"]}
