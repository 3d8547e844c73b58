"""The run strips' store reads on both backends (store/strips.py): `schedule_histories` answers
for every entry in one read exactly what it answers for that entry alone; scheduler skips are kept per entry,
read back newest first within a window, and pruned by age."""

from __future__ import annotations

import pytest

from ductile.lifecycle import Status
from ductile.store.strips import HistoryRequest, Skip, SkipRequest
from ductile.timeutil import to_text
from store.test_actions_contract import at, end, new

A, B = "p:poll:a", "p:poll:b"


def _runs(store) -> None:
    """Entry A: five finished runs and one queued; entry B: two runs; another command's key too."""
    outcomes = [Status.SUCCEEDED, Status.FAILED, Status.TIMED_OUT, Status.DEAD, Status.SUCCEEDED]
    for i, status in enumerate(outcomes):
        store.enqueue(new(A, by="scheduler"), now=at(10 * i), dedupe_since=None)
        end(store, store.claim(now=at(10 * i + 1)), status, 10 * i + 2)
    for t in (15, 35):
        store.enqueue(new(B, by="scheduler"), now=at(t), dedupe_since=None)
        end(store, store.claim(now=at(t + 1)), Status.SUCCEEDED, t + 2)
    store.enqueue(new(A, by="scheduler"), now=at(60), dedupe_since=None)  # queued


def test_batched_histories_equal_each_entry_read_alone_in_request_order(store):
    _runs(store)
    requests = [
        HistoryRequest("p", "poll", B, to_text(at(0))),
        HistoryRequest("p", "poll", A, to_text(at(10))),
        HistoryRequest("p", "sync", A, to_text(at(0))),  # another command: nothing
        HistoryRequest("p", "poll", "never", to_text(at(0))),
        HistoryRequest("p", "poll", A, to_text(at(25))),  # the same entry twice, another window
    ]
    for limit in (100, 2):
        batched = store.schedule_histories(requests, limit)
        assert batched == [store.schedule_histories([r], limit)[0] for r in requests]  # entries never mix
    batched = store.schedule_histories(requests, 100)
    assert batched[0] == [(to_text(at(35)), "succeeded"), (to_text(at(15)), "succeeded")]
    assert batched[1][0] == (to_text(at(60)), "queued") and len(batched[1]) == 5
    assert batched[2] == [] and batched[3] == []
    assert [s for _, s in batched[4]] == ["queued", "succeeded", "dead"]
    assert store.schedule_histories([], 10) == []


def test_skips_are_kept_per_entry_and_read_newest_first_within_a_window(store):
    store.record_schedule_skip("p", "a", "poll", at=at(5), reason="circuit_open", slot=at(0))
    store.record_schedule_skip("p", "a", "poll", at=at(65), reason="already_running", slot=at(60))
    store.record_schedule_skip("p", "a", "poll", at=at(125), reason="window_closed", slot=None)
    store.record_schedule_skip("p", "b", "poll", at=at(70), reason="outstanding_limit", slot=at(60))
    store.record_schedule_skip("q", "a", "poll", at=at(70), reason="circuit_open", slot=at(60))
    requests = [SkipRequest("p", "a", to_text(at(60))), SkipRequest("p", "b", to_text(at(0))), SkipRequest("x", "a", "")]
    got = store.schedule_skips(requests, 10)
    assert got == [
        [Skip(to_text(at(125)), "window_closed", None), Skip(to_text(at(65)), "already_running", to_text(at(60)))],
        [Skip(to_text(at(70)), "outstanding_limit", to_text(at(60)))],
        [],
    ]
    assert store.schedule_skips(requests[:1], 1) == [got[0][:1]]
    assert store.schedule_skips([], 10) == []


def test_skips_older_than_the_cutoff_are_pruned_in_batches_and_newer_ones_stay(store):
    for t in range(5):
        store.record_schedule_skip("p", "a", "poll", at=at(t), reason="circuit_open", slot=at(t))
    store.record_schedule_skip("p", "a", "poll", at=at(100), reason="circuit_open", slot=at(100))
    assert store.prune_schedule_skips(at(50), batch=3) == 3
    assert store.prune_schedule_skips(at(50), batch=3) == 2
    assert store.prune_schedule_skips(at(50), batch=3) == 0
    assert store.schedule_skips([SkipRequest("p", "a", "")], 10) == [[Skip(to_text(at(100)), "circuit_open", to_text(at(100)))]]


def test_the_hourly_pruner_removes_skips_past_the_skipped_status_retention(store):
    """The gateway's pruner task (upkeep/pruner.run) keeps skips as long as a `skipped` job."""
    import asyncio
    from datetime import timedelta

    from ductile.timeutil import utcnow
    from ductile.upkeep import pruner

    now = utcnow()
    store.record_schedule_skip("p", "a", "poll", at=now - timedelta(hours=2), reason="circuit_open", slot=None)
    store.record_schedule_skip("p", "a", "poll", at=now - timedelta(minutes=10), reason="circuit_open", slot=None)

    async def round_of_pruning() -> list[list[Skip]]:
        stop = asyncio.Event()
        task = asyncio.create_task(pruner.run(store, {"default": 30 * 86400.0, "skipped": 3600.0}, stop))
        for _ in range(100):
            left = store.schedule_skips([SkipRequest("p", "a", "")], 10)
            if len(left[0]) < 2:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await task
        return left

    left = asyncio.run(round_of_pruning())
    assert [s.at for s in left[0]] == [to_text(now - timedelta(minutes=10))]


def test_sqlite_strip_reads_do_not_wait_for_the_connection_the_dispatcher_uses(store):
    """While another thread holds the SQLite store's connection lock (as a claim or finish does),
    the strips' reads still answer, from their own read connection; they see committed rows."""
    import threading

    from store.backends import is_pg

    if is_pg(store):
        pytest.skip("PostgreSQL reads take a pooled connection: there is no shared lock to avoid")
    _runs(store)
    store.record_schedule_skip("p", "a", "poll", at=at(5), reason="circuit_open", slot=at(0))
    answered: list[object] = []
    with store._lock:  # what the dispatcher's transactions hold
        reader = threading.Thread(
            target=lambda: answered.extend(
                [
                    store.schedule_histories([HistoryRequest("p", "poll", B, to_text(at(0)))], 10),
                    store.schedule_skips([SkipRequest("p", "a", "")], 10),
                ]
            )
        )
        reader.start()
        reader.join(timeout=10)
        assert not reader.is_alive(), "the strip reads waited for the store's lock"
    assert answered == [
        [[(to_text(at(35)), "succeeded"), (to_text(at(15)), "succeeded")]],
        [[Skip(to_text(at(5)), "circuit_open", to_text(at(0)))]],
    ]
