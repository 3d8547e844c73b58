"""The dispatcher under faults, in-process with a real SQLite file and real plugins: a gateway
error while preparing an attempt still ends it; a store write refused by another process's lock
is retried until it lands (and is reported while it does not); claims pause while the database
cannot be written and resume by themselves; a schedule due meanwhile keeps its slot."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from conftest import make_plugin

from ductile.dispatch import Dispatcher
from ductile.jobs import JobQuery
from ductile.lifecycle import TERMINAL, Status
from ductile.scheduler.loop import Scheduler
from ductile.store import SqliteStore

QUICK = """\
    #!/usr/bin/env python3
    import json, sys
    json.load(sys.stdin)
    print(json.dumps({"status": "ok", "result": "done", "state_updates": {"seen": True}}))
    """
GATED = """\
    #!/usr/bin/env python3
    import json, os, sys, time
    request = json.load(sys.stdin)
    gate = request["config"]["gate"]
    open(gate + ".started", "w").close()
    while not os.path.exists(gate):
        time.sleep(0.01)
    print(json.dumps({"status": "ok", "result": "through"}))
    """


async def until(predicate, timeout: float = 20.0, message: str = "condition"):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        value = predicate()
        if value:
            return value
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


def short_lock_timeout(r) -> None:
    """Reopen the rig's store with a 50 ms busy timeout, so a held lock fails writes quickly."""
    r.store.close()
    r.store = SqliteStore(r.setup.loaded.db_path, busy_timeout=0.05)
    r.dispatcher = Dispatcher(r.store, r.setup.registry, max_workers=2, kill_grace=1.0, draw=lambda: 0.0)


async def test_a_gateway_error_before_the_plugin_runs_still_ends_the_attempt(rig, tmp_path):
    make_plugin(tmp_path / "plugins", "quick", QUICK)
    r = rig({"quick": {"retry": {"max_attempts": 2, "backoff_base": "10ms"}}})
    blocker = r.setup.registry.data_dir / "workspaces" / "quick"
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("a file where the workspace directory should be")
    job, attempts = await r.run_one("quick")
    assert job.status is Status.FAILED  # a retryable error, twice: exhausted retries end in failed (A17)
    assert [a.outcome for a in attempts] == ["error", "error"]
    assert job.last_error.startswith("gateway error while running attempt 2: FileExistsError: ")
    assert r.store.running_jobs() == []


async def test_a_finish_refused_by_an_outside_lock_is_retried_reported_and_then_recorded(rig, tmp_path, caplog):
    gate = tmp_path / "gate"
    make_plugin(tmp_path / "plugins", "gated", GATED)
    r = rig({"gated": {"config": {"gate": str(gate)}}})
    short_lock_timeout(r)
    job_id = r.submit("gated")
    stop = asyncio.Event()
    task = asyncio.create_task(r.dispatcher.run(stop))
    outsider = sqlite3.connect(r.setup.loaded.db_path, isolation_level=None)
    try:
        await until(lambda: Path(f"{gate}.started").exists(), message="the attempt to start")
        outsider.execute("BEGIN IMMEDIATE")
        gate.touch()
        reason = await until(lambda: r.dispatcher.unrecorded.get(job_id), message="the refused finish to be reported")
        assert reason == (
            f"could not record the end of job {job_id} (attempt 1): the database cannot be written: another "
            "process holds a write lock on it; retrying until the database accepts it"
        )
        assert r.store.get_job(job_id).status is Status.RUNNING  # reads still work; nothing recorded yet
        outsider.execute("ROLLBACK")
        job = await until(lambda: (j := r.store.get_job(job_id)).status in TERMINAL and j, message="the finish")
        assert job.status is Status.SUCCEEDED and job.attempt == 1
        assert r.dispatcher.unrecorded == {}
        assert [a.outcome for a in r.store.attempts(job_id)] == ["success"]
    finally:
        if outsider.in_transaction:
            outsider.execute("ROLLBACK")
        outsider.close()
        gate.touch()
        stop.set()
        await task
        await r.dispatcher.drain(5.0)


async def test_claims_pause_while_writes_fail_and_resume_by_themselves(rig, tmp_path, caplog, monkeypatch):
    make_plugin(tmp_path / "plugins", "quick", QUICK)
    r = rig({"quick": {}})
    short_lock_timeout(r)
    monkeypatch.setattr("ductile.dispatch.PROBE_INTERVAL", 0.1)
    job_id = r.submit("quick")
    outsider = sqlite3.connect(r.setup.loaded.db_path, isolation_level=None)
    outsider.execute("BEGIN IMMEDIATE")
    stop = asyncio.Event()
    caplog.set_level(logging.INFO, logger="ductile.dispatch")
    task = asyncio.create_task(r.dispatcher.run(stop))
    try:
        await until(lambda: r.store.write_fault is not None, message="the claim to be refused")
        assert r.store.write_fault.kind == "busy"
        await until(
            lambda: any("no jobs are claimed until a write succeeds" in rec.getMessage() for rec in caplog.records),
            message="the pause to be logged",
        )
        assert r.store.get_job(job_id).status is Status.QUEUED
        outsider.execute("ROLLBACK")
        job = await until(lambda: (j := r.store.get_job(job_id)).status in TERMINAL and j, message="the job to run")
        assert job.status is Status.SUCCEEDED
        assert r.store.write_fault is None
        assert any(rec.getMessage() == "database writes succeed again; claiming jobs again" for rec in caplog.records)
    finally:
        if outsider.in_transaction:
            outsider.execute("ROLLBACK")
        outsider.close()
        stop.set()
        await task
        await r.dispatcher.drain(5.0)


async def test_a_schedule_due_while_writes_fail_keeps_its_slot_and_fires_once_after(rig, tmp_path):
    make_plugin(tmp_path / "plugins", "quick", QUICK)
    r = rig({"quick": {"schedules": [{"every": "1m"}]}})
    short_lock_timeout(r)
    now = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
    sched = Scheduler(r.store, r.setup.registry, clock=lambda: now, draw=lambda: 0.0)
    sched.load()
    [entry] = sched.entries
    due = now + timedelta(minutes=5)
    slot, fire_at = entry.slot, entry.fire_at
    with contextlib.closing(sqlite3.connect(r.setup.loaded.db_path, isolation_level=None)) as outsider:
        outsider.execute("BEGIN IMMEDIATE")
        assert await sched._fire_or_keep(entry, due) is False
        assert (entry.slot, entry.fire_at) == (slot, fire_at)  # still due: not skipped
        outsider.execute("ROLLBACK")
    assert await sched._fire_or_keep(entry, due) is True
    assert len(r.store.list_jobs(JobQuery(limit=10)).jobs) == 1
    assert entry.slot > slot
