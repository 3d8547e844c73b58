"""`ductile job inspect` as a real subprocess over a real database: a pipeline step with context
lineage and baggage, attempts with stderr and results, emitted events and children; text, --json,
flags on either side of the id, redaction, and the unknown-id error."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import DUCTILE, base_config, write_config

from ductile.jobs import AttemptRecord, NewJob
from ductile.lifecycle import Decision, Status
from ductile.store import SqliteStore
from ductile.timeutil import to_text

T0 = datetime(2026, 11, 29, 10, 0, 0, tzinfo=UTC)


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Any]:
    config_dir = tmp_path / "cfg"
    write_config(config_dir, base_config([], {}))
    store = SqliteStore(config_dir / "data" / "ductile.db")
    try:
        for cid, parent, step, acc, t in (
            ("ctx-root", None, "", {"ductile": {"pipeline_instance_id": "inst-9", "route_depth": 0}}, 0),
            (
                "ctx-a",
                "ctx-root",
                "step_1",
                {
                    "run": {"id": "r1", "api_token": "s3cr3t"},
                    "ductile": {"pipeline_instance_id": "inst-9", "route_depth": 1},
                },
                1,
            ),
        ):
            store._db.execute(
                "INSERT INTO event_contexts (id, parent_id, pipeline_name, step_id, instance_id, accumulated, created_at)"
                " VALUES (?, ?, 'tidy', ?, 'inst-9', ?, ?)",
                (cid, parent, step, json.dumps(acc), to_text(at(t))),
            )
        job_id = store.enqueue(
            NewJob(
                plugin="A",
                command="handle",
                payload={"type": "repo.go", "payload": {"password": "hunter2", "k": 1}},
                submitted_by="api",
                event_context_id="ctx-a",
                pipeline="tidy",
                step_id="step_1",
            ),
            now=at(2),
            dedupe_since=None,
        ).job_id
        first = store.claim(now=at(3))
        assert first is not None
        store.finish(
            first,
            AttemptRecord("error", to_text(at(3)), to_text(at(4)), 800.0, error="flaky", stderr="line1\nBOOM-LINE\n"),
            Decision(Status.QUEUED, last_error="flaky"),
            now=at(4),
        )
        second = store.claim(now=at(5))
        assert second is not None
        store.finish(
            second,
            AttemptRecord(
                "success",
                to_text(at(5)),
                to_text(at(6)),
                20.0,
                response={"status": "ok", "result": "a-done", "secret": "zzz"},
                logs=[{"level": "info", "message": "cloned"}],
            ),
            Decision(Status.SUCCEEDED),
            now=at(6),
            events=[{"type": "repo.synced", "payload": {"path": "/m/o/r"}, "event_id": "ev-1"}],
        )
        child = store.enqueue(
            NewJob(
                plugin="B",
                command="handle",
                submitted_by="route",
                parent_job_id=job_id,
                source_event_id="ev-1",
                route_key="tidy/step_2",
                pipeline="tidy",
                step_id="step_2",
            ),
            now=at(7),
            dedupe_since=None,
        ).job_id
    finally:
        store.close()
    return {"config": str(config_dir), "job": job_id, "child": child}


def inspect(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DUCTILE, "job", "inspect", *args], capture_output=True, text=True, timeout=60)


def test_json_report(world: dict[str, Any]) -> None:
    result = inspect(world["job"], "--config", world["config"], "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report) >= {"job", "lineage", "baggage", "transitions", "attempts", "logs", "children"}
    job = report["job"]
    assert job["job_id"] == world["job"] and job["status"] == "succeeded" and job["attempt"] == 2
    assert job["pipeline"] == "tidy" and job["step_id"] == "step_1" and job["event_context_id"] == "ctx-a"
    assert job["payload"]["payload"] == {"password": "***", "k": 1}
    assert [(c["context_id"], c["step_id"]) for c in report["lineage"]] == [("ctx-root", ""), ("ctx-a", "step_1")]
    assert report["baggage"] == {
        "run": {"id": "r1", "api_token": "***"},
        "ductile": {"pipeline_instance_id": "inst-9", "route_depth": 1},
    }
    assert [t["to"] for t in report["transitions"]] == ["queued", "running", "queued", "running", "succeeded"]
    assert [(a["attempt"], a["outcome"]) for a in report["attempts"]] == [(1, "error"), (2, "success")]
    assert [entry["id"] for entry in report["logs"]] == [f"{world['job']}-1", f"{world['job']}-2"]
    assert report["logs"][0]["last_error"] == "flaky" and "BOOM-LINE" in report["logs"][0]["stderr"]
    assert report["logs"][1]["result"] == {"status": "ok", "result": "a-done", "secret": "***"}
    assert report["events"] == [
        {
            "event_id": "ev-1",
            "type": "repo.synced",
            "payload": {"path": "/m/o/r"},
            "created_at": to_text(at(6)),
            "children": [world["child"]],
        }
    ]
    assert report["children"] == [
        {
            "job_id": world["child"],
            "plugin": "B",
            "command": "handle",
            "pipeline": "tidy",
            "step_id": "step_2",
            "status": "queued",
        }
    ]


def test_text_report_with_flags_before_the_id(world: dict[str, Any]) -> None:
    result = inspect("--config", world["config"], world["job"])
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for fragment in (
        f"job {world['job']}",
        "lineage (root → leaf):",
        "ctx-root  tidy/(instance root)",
        "ctx-a  tidy/step_1",
        '"pipeline_instance_id": "inst-9"',
        '"api_token": "***"',
        "running → succeeded",
        f"{world['job']}-1: queued",
        "last_error: flaky",
        "BOOM-LINE",
        "repo.synced  ev-1  → " + world["child"],
        f"{world['child']}  B  tidy/step_2  queued",
    ):
        assert fragment in out, fragment
    assert out.index("ctx-root") < out.index("ctx-a  tidy")  # root first
    assert "a-done" not in out and "s3cr3t" not in out and "hunter2" not in out
    verbose = inspect(world["job"], "--verbose", "--config", world["config"])
    assert '"result": "a-done"' in verbose.stdout and '"secret": "***"' in verbose.stdout


def test_a_job_outside_pipelines(world: dict[str, Any]) -> None:
    result = inspect(world["child"], "--json", "--config", world["config"])
    report = json.loads(result.stdout)
    assert report["lineage"] == [] and report["baggage"] is None  # ctx not set on this child
    assert report["job"]["parent_job_id"] == world["job"] and report["job"]["source_event_id"] == "ev-1"
    assert report["attempts"] == [] and report["children"] == []
    text = inspect(world["child"], "--config", world["config"]).stdout
    assert "(not a pipeline step)" in text and "(none yet)" in text


def test_unknown_job(world: dict[str, Any]) -> None:
    result = inspect("no-such-job", "--config", world["config"])
    assert result.returncode == 1
    assert result.stderr.strip() == "Inspect failed: job not found" and result.stdout == ""
    as_json = inspect("--json", "no-such-job", "--config", world["config"])
    assert as_json.returncode == 1 and "Inspect failed: job not found" in as_json.stderr
