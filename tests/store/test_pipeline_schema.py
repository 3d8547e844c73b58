"""Migration 0004: lineage columns round-trip through enqueue/get_job, and the uniqueness guard
that keeps routed children exactly-once (§0 O2: route_key is part of the identity)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest
from psycopg.errors import UniqueViolation

from ductile.jobs import NewJob

T0 = datetime(2026, 11, 29, 10, 0, 0, tzinfo=UTC)


def child(route_key: str, plugin: str = "B") -> NewJob:
    return NewJob(
        plugin=plugin,
        command="handle",
        payload={"type": "t"},
        submitted_by="route",
        parent_job_id="parent-1",
        source_event_id="e1",
        event_context_id="ctx-1",
        route_key=route_key,
        pipeline="p",
        step_id="step_1",
    )


def test_lineage_fields_round_trip(store):
    job_id = store.enqueue(child("p/step_1"), now=T0, dedupe_since=None).job_id
    job = store.get_job(job_id)
    assert job is not None
    assert (job.source_event_id, job.event_context_id, job.route_key, job.pipeline, job.step_id) == (
        "e1",
        "ctx-1",
        "p/step_1",
        "p",
        "step_1",
    )


def test_a_plain_job_has_no_lineage(store):
    job_id = store.enqueue(NewJob(plugin="A", command="poll"), now=T0, dedupe_since=None).job_id
    job = store.get_job(job_id)
    assert job is not None and job.source_event_id is None and job.route_key is None and job.pipeline is None


def test_same_event_same_route_is_unique_but_another_route_is_not(tmp_path, store):
    store.enqueue(child("p5/step_1", "E"), now=T0, dedupe_since=None)
    store.enqueue(child("p6/step_1", "E"), now=T0, dedupe_since=None)  # ours (O2): a second pipeline
    with pytest.raises((sqlite3.IntegrityError, UniqueViolation)):
        store.enqueue(child("p5/step_1", "E"), now=T0, dedupe_since=None)
