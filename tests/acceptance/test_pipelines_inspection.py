"""The inspection surfaces over a real routed chain: a real gateway runs `p: on x, [A, B]` with the
recorder plugin (A emits nothing, so B is started by the synthetic ductile.step.succeeded event),
then GET /job/{id}/tree, GET /job/{id}, GET /jobs lineage filters, GET /pipelines and
`ductile job inspect` must all describe the same family."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import DUCTILE

from tests.acceptance.pipeline_rig import Gateways, post, wait_settled

pytestmark = pytest.mark.slow


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[dict[str, Any]]:
    pool = Gateways(tmp_path)
    rec = tmp_path / "rec"
    plugins = {
        "A": {"uses": "recorder", "config": {"record_dir": str(rec), "result": "a-done"}},
        "B": {"uses": "recorder", "config": {"record_dir": str(rec), "result": {"token": "t0p", "n": 2}}},
    }
    pipelines = [
        {
            "name": "p",
            "on": "x",
            "execution_mode": "synchronous",
            "timeout": "30s",
            "steps": [{"uses": "A", "baggage": {"run.id": "payload.rid"}}, {"id": "last", "uses": "B"}],
        }
    ]
    gw = pool.start(plugins, pipelines)
    try:
        response = post(gw, "/pipeline/p", {"payload": {"rid": "r-1"}})
        assert response.status_code == 200, response.text
        wait_settled(gw.db_path, at_least=2)
        tree = response.json()["tree"]
        yield {"gw": gw, "a": tree[0]["job_id"], "b": tree[1]["job_id"]}
    finally:
        pool.stop_all()


def test_every_surface_describes_the_same_chain(chain: dict[str, Any]) -> None:
    gw, a, b = chain["gw"], chain["a"], chain["b"]
    with gw.client() as api:
        tree = api.get(f"/job/{a}/tree").json()
        assert [(i["job_id"], i.get("parent_job_id")) for i in tree] == [(a, None), (b, a)]
        assert tree[0]["result"]["result"] == "a-done"
        assert tree[1]["result"]["result"] == {"token": "***", "n": 2}  # redacted

        detail = api.get(f"/job/{a}").json()
        assert detail["pipeline"] == "p" and detail["step_id"] == "step_1"
        [event] = detail["events"]
        assert event["type"] == "ductile.step.succeeded" and event["children"] == [b]
        assert event["payload"]["result"] == "a-done"
        assert detail["children"] == [
            {"job_id": b, "plugin": "B", "command": "handle", "status": "succeeded", "pipeline": "p", "step_id": "last"}
        ]
        child = api.get(f"/job/{b}").json()
        assert child["parent_job_id"] == a and child["children"] == []
        # The terminal step's synthetic event is stored too, and started nothing.
        assert [(e["type"], e["children"]) for e in child["events"]] == [("ductile.step.succeeded", [])]

        by_pipeline = api.get("/jobs", params={"pipeline": "p"}).json()
        assert by_pipeline["total"] == 2 and [j["job_id"] for j in by_pipeline["jobs"]] == [b, a]
        by_parent = api.get("/jobs", params={"parent_job_id": a}).json()
        assert by_parent["total"] == 1 and by_parent["jobs"][0]["job_id"] == b

        [listed] = api.get("/pipelines").json()["pipelines"]
        assert listed["name"] == "p" and listed["steps"] == ["step_1", "last"]
        last = listed["last"]
        assert last["job_id"] == a and last["status"] == "succeeded" and last["job_count"] == 2
        assert last["instance_id"] and last["duration_ms"] >= 0

    result = subprocess.run(
        [DUCTILE, "job", "inspect", b, "--json", "--config", str(gw.config_dir)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [c["step_id"] for c in report["lineage"]] == ["", "step_1", "last"]
    assert len({c["instance_id"] for c in report["lineage"]}) == 1
    assert report["baggage"]["run"] == {"id": "r-1"}
    assert report["baggage"]["ductile"]["pipeline_instance_id"] == last["instance_id"]
    assert report["job"]["source_event_id"] == event["event_id"] and report["job"]["parent_job_id"] == a
    assert report["logs"][0]["result"]["result"] == {"token": "***", "n": 2}
