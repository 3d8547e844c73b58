"""The stopwatch's store verbs on both backends: which attempts are samples, the window by
`started_at`, step grouping, sub-spans read capped in SQL (and never failing on a response that is
not JSON), and `stopwatch_clear_subs` really removing the key (or one span's entries) from stored
responses, leaving every other key and value as it was."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from ductile.jobs import AttemptRecord, NewJob
from ductile.lifecycle import Decision, Status
from ductile.store.stopwatch import StopwatchFilter
from ductile.timeutil import to_text
from store.backends import raw

BASE = datetime(2026, 11, 1, 12, tzinfo=UTC)
SUBS = [{"name": "fetch", "dur_ns": 2_000_000}, {"name": "parse", "dur_ns": 1_000_000, "extra": [1, True]}]


def _run(
    store: Any,
    at: datetime,
    *,
    plugin: str = "p",
    step: str | None = None,
    duration: float = 10.0,
    outcome: str = "success",
    response: Any = None,
    exit_code: int | None = 0,
    status: Status = Status.SUCCEEDED,
) -> str:
    """One job of `plugin` that ran once: started at `at`, `duration` ms, ended as told."""
    job = NewJob(plugin=plugin, command="poll", step_id=step, pipeline="pl" if step else None, max_attempts=1)
    store.enqueue(job, now=at, dedupe_since=None)
    claimed = store.claim(now=at)
    assert claimed is not None
    record = AttemptRecord(
        outcome,
        to_text(at),
        to_text(at + timedelta(milliseconds=duration)),
        duration,
        response=response if response is not None else {"status": "ok"},
        exit_code=exit_code,
    )
    store.finish(claimed, record, Decision(status), now=at + timedelta(milliseconds=duration))
    return claimed.job_id


def _response(store: Any, job_id: str) -> str:
    return raw(store, "SELECT response FROM attempts WHERE job_id = ?", (job_id,))[0][0]


def test_samples_are_timed_attempts_in_the_window_newest_first(store):
    _run(store, BASE - timedelta(minutes=1), duration=1)  # before the window
    _run(store, BASE + timedelta(minutes=1), duration=20)
    _run(store, BASE + timedelta(minutes=2), duration=30, step="fetch")
    _run(store, BASE + timedelta(minutes=3), duration=40, outcome="error", status=Status.FAILED, exit_code=1)
    _run(store, BASE + timedelta(minutes=4), duration=50, outcome="timeout", exit_code=None, status=Status.TIMED_OUT)
    _run(store, BASE + timedelta(minutes=5), duration=0, outcome="fatal", exit_code=None, status=Status.FAILED)
    _run(store, BASE + timedelta(minutes=6), duration=60, plugin="other")
    store.enqueue(NewJob(plugin="p", command="poll"), now=BASE + timedelta(minutes=7), dedupe_since=None)
    store.claim(now=BASE + timedelta(minutes=7))  # running: no duration yet

    samples, more = store.stopwatch_samples("p", BASE, BASE + timedelta(hours=1), max_subs=None, limit=100)
    assert not more
    assert [(s.duration_ms, s.step) for s in samples] == [(50.0, ""), (40.0, ""), (30.0, "fetch"), (20.0, "")]
    assert all(s.subs is None for s in samples)
    capped, more = store.stopwatch_samples("p", BASE, BASE + timedelta(hours=1), max_subs=None, limit=2)
    assert more and [s.duration_ms for s in capped] == [50.0, 40.0]


def test_subs_are_read_capped_and_only_when_asked(store):
    many = [{"name": f"s{i}", "dur_ns": i} for i in range(40)]
    _run(store, BASE, response={"status": "ok", "ductile_stopwatch_subs": ["junk", *many]})
    _run(store, BASE + timedelta(seconds=1), response={"status": "ok", "ductile_stopwatch_subs": {"name": "x"}})
    _run(store, BASE + timedelta(seconds=2), response={"status": "ok", "note": "ductile_stopwatch_subs in text"})
    bad = _run(store, BASE + timedelta(seconds=3))
    raw(store, "UPDATE attempts SET response = ? WHERE job_id = ?", ('{"ductile_stopwatch_subs": [ not json', bad))

    without, _ = store.stopwatch_samples("p", BASE, BASE + timedelta(hours=1), max_subs=None, limit=10)
    assert [s.subs for s in without] == [None] * 4
    read, _ = store.stopwatch_samples("p", BASE, BASE + timedelta(hours=1), max_subs=32, limit=10)
    by_time = {s.started_at: s.subs for s in read}
    assert json.loads(by_time[to_text(BASE)]) == many[:32]  # objects only, the first 32
    assert by_time[to_text(BASE + timedelta(seconds=1))] is None  # not a list
    assert by_time[to_text(BASE + timedelta(seconds=2))] is None  # the key only in a value
    assert by_time[to_text(BASE + timedelta(seconds=3))] is None  # not JSON: no error, no subs


def test_count_and_clear_subs_with_filters(store):
    old = BASE - timedelta(days=10)
    a = _run(store, old, response={"status": "ok", "result": {"k": "é"}, "ductile_stopwatch_subs": SUBS, "z": 1})
    b = _run(store, old + timedelta(seconds=1), step="s1", response={"status": "ok", "ductile_stopwatch_subs": SUBS})
    c = _run(store, old + timedelta(seconds=2), response={"status": "ok"})  # no subs
    d = _run(store, BASE, response={"status": "ok", "ductile_stopwatch_subs": SUBS})  # too new
    e = _run(
        store,
        old + timedelta(seconds=3),
        outcome="error",
        status=Status.FAILED,
        exit_code=1,
        response={"status": "error", "error": "x", "ductile_stopwatch_subs": SUBS},
    )
    cutoff = BASE - timedelta(days=1)

    assert store.stopwatch_count(StopwatchFilter(cutoff), 100) == 4
    assert store.stopwatch_count(StopwatchFilter(cutoff), 2) == 2  # counts at most the limit
    assert store.stopwatch_count(StopwatchFilter(cutoff, subs=True), 100) == 3
    assert store.stopwatch_count(StopwatchFilter(cutoff, step="s1"), 100) == 1
    assert store.stopwatch_count(StopwatchFilter(cutoff, step=""), 100) == 3
    assert store.stopwatch_count(StopwatchFilter(cutoff, status="err"), 100) == 1
    assert store.stopwatch_count(StopwatchFilter(cutoff, status="capture_error"), 100) == 0
    assert store.stopwatch_count(StopwatchFilter(cutoff, plugin="other"), 100) == 0
    assert store.stopwatch_count(StopwatchFilter(cutoff, span="parse"), 100) == 3
    assert store.stopwatch_count(StopwatchFilter(cutoff, span="nope"), 100) == 0

    # --span: only that span's entries go, the rest of the list and the response stay
    assert store.stopwatch_clear_subs(StopwatchFilter(cutoff, span="parse", status="ok"), 1) == 1
    assert json.loads(_response(store, a)) == {
        "status": "ok",
        "result": {"k": "é"},
        "ductile_stopwatch_subs": SUBS[:1],
        "z": 1,
    }
    assert list(json.loads(_response(store, a))) == ["status", "result", "ductile_stopwatch_subs", "z"]
    assert json.loads(_response(store, b))["ductile_stopwatch_subs"] == SUBS  # over the limit
    # the whole key, oldest first, at most the limit, other keys kept in order
    assert store.stopwatch_clear_subs(StopwatchFilter(cutoff), 2) == 2
    assert json.loads(_response(store, a)) == {"status": "ok", "result": {"k": "é"}, "z": 1}
    assert list(json.loads(_response(store, a))) == ["status", "result", "z"]
    assert json.loads(_response(store, b)) == {"status": "ok"}
    assert "ductile_stopwatch_subs" in json.loads(_response(store, e))
    assert store.stopwatch_clear_subs(StopwatchFilter(cutoff), 100) == 1
    assert json.loads(_response(store, e)) == {"status": "error", "error": "x"}
    assert store.stopwatch_clear_subs(StopwatchFilter(cutoff), 100) == 0
    assert json.loads(_response(store, c)) == {"status": "ok"}
    assert json.loads(_response(store, d))["ductile_stopwatch_subs"] == SUBS


def test_clear_subs_skips_responses_that_are_not_json(store):
    job = _run(store, BASE - timedelta(days=2))
    text = '{"ductile_stopwatch_subs": [ broken'
    raw(store, "UPDATE attempts SET response = ? WHERE job_id = ?", (text, job))
    assert store.stopwatch_count(StopwatchFilter(BASE, subs=True), 10) == 0
    assert store.stopwatch_clear_subs(StopwatchFilter(BASE), 10) == 0
    assert store.stopwatch_clear_subs(StopwatchFilter(BASE, span="x"), 10) == 0
    assert _response(store, job) == text
