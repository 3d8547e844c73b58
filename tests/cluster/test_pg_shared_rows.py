"""PostgreSQL rows several nodes write at once: schedule pause/resume against fires, and the
cluster event stream (ids gap-free and committed in id order, the same on every node). Every
"node" is a real PostgresStore with its own pool on a fresh schema."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pgtest import fresh_schema

from ductile.jobs import NewJob, ScheduleState
from ductile.store import open_store
from ductile.store.pg_events import EventLog, Pending
from ductile.timeutil import to_text

T0 = datetime(2026, 11, 29, 10, 0, 0, tzinfo=UTC)


def at(seconds: float) -> str:
    return to_text(T0 + timedelta(seconds=seconds))


@pytest.fixture
def nodes() -> Iterator[list[Any]]:
    with fresh_schema("rows") as url:
        made = [open_store(url, node_id=f"n{i}") for i in range(3)]
        yield made
        for s in made:
            s.close()


def fire(store: Any, slot: float, nxt: float) -> Any:
    """A leader's fire of `slot` that moves the entry to `nxt` (an active row, as in memory)."""
    state = ScheduleState("p", "s", at(nxt), at(nxt), at(slot), None, command="poll")
    job = NewJob(plugin="p", command="poll", submitted_by="scheduler", dedupe_key="p:poll:s")
    return store.enqueue(
        job, now=T0 + timedelta(seconds=slot), dedupe_since=None, enforce_dedupe=False, schedule_state=state
    )


def test_a_pause_from_any_node_stops_fires_and_only_a_resume_lifts_it(nodes: list[Any]) -> None:
    leader, follower, other = nodes
    assert fire(leader, 0, 1).created
    assert follower.pause_schedule("p", "s", command="poll", reason="maint", by="ops", at=at(0.5))
    assert not other.pause_schedule("p", "s", command="poll", reason="again", by="x", at=at(0.6))  # once
    # the leader has not seen the pause: its fire is refused by the row, nothing is queued
    refused = fire(leader, 1, 2)
    assert not refused.created and leader.status_counts()["queued"] == 1
    # nor can its whole-row writes (a skip, a re-plan) put the entry back to active
    leader.put_schedule_state(ScheduleState("p", "s", at(3), at(3), at(1), None, command="poll"))
    row = other.schedule_states()[("p", "s")]
    assert (row.status, row.reason, row.paused_by, row.next_slot) == ("paused_manual", "maint", "ops", at(1))
    # a resume lifts it (once), with the slot it computed; the leader fires again
    assert other.resume_schedule("p", "s", next_slot=at(5), next_fire=at(5), at=at(4))
    assert not follower.resume_schedule("p", "s", next_slot=at(6), next_fire=at(6), at=at(4.5))
    row = leader.schedule_states()[("p", "s")]
    assert (row.status, row.paused_by, row.next_slot) == ("active", None, at(5))
    assert fire(leader, 5, 6).created


def test_event_ids_are_gap_free_and_in_order_across_nodes_writing_at_once(nodes: list[Any]) -> None:
    logs = [EventLog(n) for n in nodes]
    errors: list[BaseException] = []

    def write(log: EventLog, k: int) -> None:
        try:
            for i in range(40):
                log.append([Pending("t", {"node": k, "i": i, "j": j}, 0.0) for j in range(3)])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    pages: list[list[int]] = []
    writing = threading.Event()

    def follow() -> None:
        """A follower reading `id > cursor` while the others commit: it must never see an id
        before a smaller one has committed (it would skip that one for good)."""
        cursor = 0
        while writing.is_set() or cursor < 360:
            page = [e.id for e in logs[0].after(cursor, limit=50)]
            if page:
                pages.append(page)
                cursor = page[-1]

    threads = [threading.Thread(target=write, args=(log, k)) for k, log in enumerate(logs)]
    reader = threading.Thread(target=follow)
    writing.set()
    reader.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    writing.clear()
    reader.join(timeout=60)
    assert not errors
    seen = [i for page in pages for i in page]
    assert seen == list(range(1, 361))  # every page continued exactly where the last one ended
    events = logs[0].after(0, limit=10_000)
    assert [e.id for e in events] == list(range(1, 361))  # 3 nodes, 40 batches of 3 each: no gap, no repeat
    for k in range(3):  # each node's events keep their publish order
        mine = [(e.data["i"], e.data["j"]) for e in events if e.data["node"] == k]
        assert mine == sorted(mine) and len(mine) == 120
        assert {e.node for e in events if e.data["node"] == k} == {f"n{k}"}
    assert logs[1].bounds() == (1, 360)
    logs[2].trim(keep=100)
    assert logs[0].bounds() == (261, 360)
    assert [e.id for e in logs[1].after(300, upto=305)] == [301, 302, 303, 304, 305]
