"""`ductile db copy` (SQLite → PostgreSQL, verified), `ductile db migrate` and `ductile system nodes`,
run as real CLI processes against a real SQLite file and a fresh PostgreSQL schema."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from conftest import DUCTILE, write_config
from pgtest import fresh_schema

from ductile.jobs import AttemptRecord, BulkAction, JobQuery, NewJob, ScheduleState, StateChange
from ductile.lifecycle import Decision, Status
from ductile.store import SqliteStore, open_store, queries
from ductile.store.strips import SkipRequest
from ductile.timeutil import to_text

T0 = datetime(2026, 11, 29, 10, 0, 0, tzinfo=UTC)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DUCTILE, *args], capture_output=True, text=True, timeout=120)


def test_db_copy_moves_an_installation_and_verifies_it(tmp_path: Path) -> None:
    path = tmp_path / "ductile.db"
    src = SqliteStore(path)
    ids = []
    for i in range(30):
        now = T0 + timedelta(seconds=i)
        ids.append(src.enqueue(NewJob("p", "poll", payload={"i": i}), now=now, dedupe_since=None).job_id)
        if i % 3:
            job = src.claim(now=now)
            record = AttemptRecord("success", to_text(now), to_text(now), 2.5, response={"status": "ok", "n": i})
            src.finish(
                job,
                record,
                Decision(Status.SUCCEEDED if i % 2 else Status.FAILED, last_error=None if i % 2 else "x"),
                now=now,
                state_change=StateChange(data={"last": i}),
                events=[{"type": "seen", "payload": {"i": i}, "event_id": f"e{i}"}],
            )
    # issue 10/13 rows: a retry link, a bulk audit row, a breaker with its transitions, a paused entry
    retry = src.enqueue(NewJob("p", "poll", retry_of=ids[2]), now=T0 + timedelta(minutes=5), dedupe_since=None)
    ids.append(retry.job_id)
    src.record_bulk_action(
        BulkAction("retry", "ops", {"status": "failed"}, 1, 1, 0, [retry.job_id]), now=T0 + timedelta(minutes=5)
    )
    src.reset_breaker("p", "poll", T0 + timedelta(minutes=6))
    paused = ScheduleState("p", "default", None, None, None, None, "paused_manual", "maintenance", "ops", to_text(T0))
    src.put_schedule_state(paused)
    src.record_schedule_skip("p", "default", "poll", at=T0 + timedelta(minutes=7), reason="circuit_open", slot=T0)
    skips = [SkipRequest("p", "default", "")]
    before = {j: (src.get_job(j), src.attempts(j), src.transitions(j), src.emitted_events(j)) for j in ids}
    extras = (
        src.retry_links(ids[2]),
        [(b.action, b.filter, b.job_ids) for b in src.bulk_actions()],
        src.breaker_rows(),
        [{k: v for k, v in t.items() if k != "id"} for t in src.breaker_transitions("p", "poll")],
        src.schedule_states(),
        src.schedule_skips(skips, 10),
    )
    counts, state = src.status_counts(), src.all_states()
    src.close()
    with fresh_schema("copy") as url:
        done = cli("db", "copy", "--from", f"sqlite:///{path}", "--to", url, "--json")
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert report["ok"] and report["tables"]["jobs"] == {"source": 31, "copied": 31, "target": 31}
        dst = open_store(url)
        try:
            after = {j: (dst.get_job(j), dst.attempts(j), dst.transitions(j), dst.emitted_events(j)) for j in ids}
            assert after == before
            assert (
                dst.retry_links(ids[2]),
                [(b.action, b.filter, b.job_ids) for b in dst.bulk_actions()],
                dst.breaker_rows(),
                [{k: v for k, v in t.items() if k != "id"} for t in dst.breaker_transitions("p", "poll")],
                dst.schedule_states(),
                dst.schedule_skips(skips, 10),
            ) == extras
            assert dst.status_counts() == counts and dst.all_states() == state
            assert dst.list_jobs(JobQuery(limit=100)).total == 31
        finally:
            dst.close()
        again = cli("db", "copy", "--from", f"sqlite:///{path}", "--to", url)
        assert again.returncode == 1 and "the target already has rows in jobs" in again.stderr


def test_db_migrate_and_system_nodes_on_postgresql(tmp_path: Path) -> None:
    with fresh_schema("cli") as url:
        write_config(tmp_path, {"database": {"url": url}, "plugins": {}})
        for _ in range(2):  # idempotent
            done = cli("db", "migrate", "--config", str(tmp_path))
            assert done.returncode == 0, done.stderr
            latest = queries.migrations("migrations_postgres")[-1][0]  # the newest migration shipped
            assert done.stdout.strip() == f"database at schema version {latest}"
        empty = cli("system", "nodes", "--config", str(tmp_path), "--json")
        assert json.loads(empty.stdout) == {"backend": "postgresql", "nodes": []}
        store = open_store(url, node_id="node-a")
        try:
            store.register_node(now=T0, version="9.9")
            listed = json.loads(cli("system", "nodes", "--config", str(tmp_path), "--json").stdout)["nodes"]
            assert [(n["node_id"], n["version"], n["running"]) for n in listed] == [("node-a", "9.9", 0)]
        finally:
            store.close()


def test_db_copy_leaves_dashboard_sessions_behind(tmp_path: Path) -> None:
    """`ui_sessions` (PostgreSQL only) is not a table `db copy` knows: sessions are ephemeral, so a
    PostgreSQL → SQLite copy succeeds with a signed-in session present, and says nothing of it."""
    with fresh_schema("copyback") as url:
        src = open_store(url)
        try:
            src.enqueue(NewJob("p", "poll"), now=T0, dedupe_since=None)
            src.ui_session_add(b"k" * 32, b"d" * 32, "csrf", now=T0)  # type: ignore[attr-defined]
        finally:
            src.close()
        done = cli("db", "copy", "--from", url, "--to", f"sqlite:///{tmp_path / 'back.db'}", "--json")
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert report["tables"]["jobs"]["target"] == 1 and "ui_sessions" not in report["tables"]
