"""`list_job_summaries` (the GET /jobs fast path) must equal `list_jobs` reduced by `Job.summary()`
for every filter, page size and cursor position."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ductile.jobs import AttemptRecord, JobQuery, NewJob
from ductile.lifecycle import Decision, Status
from ductile.store import open_store
from store.backends import BACKENDS, backend_target


@pytest.fixture(scope="module", params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with backend_target(request.param, tmp_path_factory.mktemp("summaries")) as target:
        store = open_store(target)
        try:
            _fill(store)
            yield store
        finally:
            store.close()


def _fill(store: Any) -> None:
    rng = random.Random(7)
    base = datetime(2026, 11, 1, tzinfo=UTC)
    for i in range(300):
        now = base + timedelta(seconds=i // 3)  # equal timestamps in threes
        store.enqueue(
            NewJob(plugin=rng.choice(["a", "b"]), command=rng.choice(["poll", "sync"]), submitted_by="api"),
            now=now,
            dedupe_since=None,
        )
        if rng.random() < 0.6:
            job = store.claim(now=now)
            if job is not None and rng.random() < 0.8:
                status = rng.choice([Status.SUCCEEDED, Status.FAILED, Status.DEAD])
                record = AttemptRecord("success", "s", "e", 1.0)
                store.finish(job, record, Decision(status), now=now + timedelta(milliseconds=5))


@settings(max_examples=60, deadline=None)
@given(
    plugin=st.sampled_from([None, "a", "b", "zzz"]),
    command=st.sampled_from([None, "poll", "sync"]),
    statuses=st.lists(st.sampled_from(list(Status)), max_size=3, unique=True),
    limit=st.integers(1, 60),
    pages=st.integers(0, 3),
)
def test_summaries_match_full_jobs(store, plugin, command, statuses, limit, pages):
    query = JobQuery(plugin=plugin, command=command, statuses=tuple(statuses), limit=limit)
    for _ in range(pages + 1):
        full = store.list_jobs(query)
        fast = store.list_job_summaries(query)
        assert fast.items == [job.summary() for job in full.jobs]
        assert (fast.total, fast.next_position) == (full.total, full.next_position)
        if full.next_position is None:
            break
        query = JobQuery(
            plugin=plugin, command=command, statuses=tuple(statuses), limit=limit, after=full.next_position
        )
