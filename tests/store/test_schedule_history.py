"""`schedule_histories` for one entry (the dashboard's run strip) on both backends: the entry's jobs
since a time, newest first, whatever their status, never another entry's or another command's."""

from __future__ import annotations

from ductile.lifecycle import Status
from ductile.store.strips import HistoryRequest
from ductile.timeutil import to_text
from store.test_actions_contract import at, end, new

KEY = "p:poll:default"


def history(store, command: str, key: str, since: str, limit: int) -> list[tuple[str, str]]:
    (one,) = store.schedule_histories([HistoryRequest("p", command, key, since)], limit)
    return one


def test_history_is_the_entrys_jobs_since_a_time_newest_first_any_status(store):
    outcomes = [Status.SUCCEEDED, Status.FAILED, Status.TIMED_OUT, Status.DEAD, Status.SUCCEEDED]
    for i, status in enumerate(outcomes):
        store.enqueue(new(KEY, by="scheduler"), now=at(10 * i), dedupe_since=None)
        end(store, store.claim(now=at(10 * i + 1)), status, 10 * i + 2)
    store.enqueue(new("p:poll:other", by="scheduler"), now=at(45), dedupe_since=None)  # another entry
    store.enqueue(new(KEY, by="scheduler"), now=at(60), dedupe_since=None)  # queued: shown too
    runs = history(store, "poll", KEY, to_text(at(10)), 100)
    assert runs == [
        (to_text(at(60)), "queued"),
        (to_text(at(40)), "succeeded"),
        (to_text(at(30)), "dead"),
        (to_text(at(20)), "timed_out"),
        (to_text(at(10)), "failed"),  # `since` is inclusive; the run at 0 is before it
    ]
    assert history(store, "poll", KEY, to_text(at(10)), 2) == runs[:2]
    assert history(store, "sync", KEY, to_text(at(0)), 10) == []
    assert history(store, "poll", "never", to_text(at(0)), 10) == []
