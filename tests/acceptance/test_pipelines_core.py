"""Routing, switches, `with`, baggage, depth budgets and the pipeline API against a real gateway
(spec pipelines.md §10 scenarios 2, 6, 7, 8, 10, 11, 12 and 15). Plugins are the recorder fixture;
every assertion reads the gateway's own SQLite file or what the recorder was sent."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import wait_for

from tests.acceptance.pipeline_rig import (
    Gateways,
    jobs,
    post,
    recorded,
    wait_settled,
)
from tests.acceptance.pipeline_rig import rows as db_rows

pytestmark = pytest.mark.slow
COND_GO = {"path": "payload.go", "op": "eq", "value": True}


@pytest.fixture
def gateways(tmp_path: Path) -> Iterator[Gateways]:
    pool = Gateways(tmp_path)
    yield pool
    pool.stop_all()


def rec(rec_dir: Path, **config: Any) -> dict[str, Any]:
    return {"uses": "recorder", "config": {"record_dir": str(rec_dir), **config}}


@pytest.fixture
def routing_gw(tmp_path: Path, gateways: Gateways):
    """One gateway holding the pipelines of scenarios 2, 6, 7, 8, 10, 11 and 12 (distinct plugin
    instances and event types, so no scenario triggers another's pipelines)."""
    r = tmp_path / "rec"
    names = ["B", "C", "D", "E", "X", "Z", "B7", "B8", "S10", "T11", "U11", "F12"]
    plugins: dict[str, Any] = {n: rec(r) for n in names}
    plugins["A"] = rec(r, result="a-done")
    # A gated step sees its upstream's event payload: the A of scenario 6 emits `go`
    plugins["A6t"] = rec(r, emit=[{"type": "decided", "payload": {"go": True}}])
    plugins["A6f"] = rec(r, emit=[{"type": "decided", "payload": {"go": False}}])
    plugins["W7"] = rec(r, emit=[{"type": "counted", "payload": {"count": 3}}])
    plugins["A8"] = rec(r, emit=[{"type": "t8", "payload": {"rid": "other"}}])
    plugins["A8eq"] = rec(r, emit=[{"type": "t8", "payload": {"rid": "r1"}}])
    plugins["A12"] = rec(r, emit=[{"type": "t12", "event_id": "e1"}, {"type": "t12", "event_id": "e1"}])
    sync = {"execution_mode": "synchronous", "timeout": "30s"}
    with7 = {"n": "{payload.count}", "s": "x={payload.count}", "lit": "payload.count"}
    pipelines = [
        {"name": "p", "on": "x", **sync, "steps": [{"uses": "A"}, {"uses": "B"}]},
        *[
            {
                "name": f"g{flag}",
                "on": "y",
                **sync,
                "steps": [{"uses": f"A6{flag}"}, {"id": "b", "uses": "B", "if": COND_GO}, {"uses": "C"}],
            }
            for flag in ("t", "f")
        ],
        {"name": "w7a", "on": "w", **sync, "steps": [{"uses": "W7"}, {"uses": "B7", "with": with7}]},
        {
            "name": "w7b",
            "on": "w",
            **sync,
            "steps": [{"uses": "W7"}, {"uses": "B7", "with": {**with7, "m": "{payload.missing}"}}],
        },
        {
            "name": "bag",
            "on": "b8",
            **sync,
            "steps": [
                {"id": "a", "uses": "A8", "baggage": {"run.id": "payload.rid"}},
                {"id": "b", "uses": "B8", "baggage": {"run.id": "payload.rid"}},
            ],
        },
        {
            "name": "bageq",
            "on": "b8",
            **sync,
            "steps": [
                {"id": "a", "uses": "A8eq", "baggage": {"run.id": "payload.rid"}},
                {"id": "b", "uses": "B8", "baggage": {"run.id": "payload.rid"}},
            ],
        },
        {
            "name": "fan",
            "on": "f",
            **sync,
            "steps": [{"uses": "S10"}, {"split": [{"uses": "B"}, {"uses": "C"}]}, {"uses": "D"}],
        },
        {"name": "caller", "on": "c", **sync, "steps": [{"uses": "S10"}, {"call": "q"}, {"uses": "Z"}]},
        {"name": "q", "on": "qq", "steps": [{"uses": "X"}]},
        {"name": "md", "on": "m", "max_depth": 1, **sync, "steps": [{"uses": "T11"}, {"uses": "U11"}]},
        {"name": "p12", "on": "t12", "steps": [{"uses": "F12"}]},
        {"name": "p5", "on": "t12", "steps": [{"uses": "E"}]},
        {"name": "p6", "on": "t12", "steps": [{"uses": "E"}]},
    ]
    return gateways.start(plugins, pipelines), r


def by_plugin(tree: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for item in tree:
        out.setdefault(item["plugin"], []).append(item)
    return out


def rows_of(gw, root: str) -> list[dict[str, Any]]:
    """The root job and its descendants, from the database."""
    every = jobs(gw.db_path)
    ids = {root}
    changed = True
    while changed:
        changed = False
        for j in every:
            if j["parent_job_id"] in ids and j["job_id"] not in ids:
                ids.add(j["job_id"])
                changed = True
    return [j for j in every if j["job_id"] in ids]


def test_routing_scenarios(routing_gw):
    gw, rec_dir = routing_gw

    # -- scenario 2: a two-step synchronous pipeline ----------------------------------------
    answer = post(gw, "/pipeline/p", {"payload": {"k": 1}})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "succeeded" and len(body["tree"]) == 2
    a_row, b_row = rows_of(gw, body["job_id"])
    assert (a_row["plugin"], a_row["submitted_by"], a_row["parent_job_id"]) == ("A", "api", None)
    assert a_row["event_context_id"]
    assert (b_row["plugin"], b_row["parent_job_id"], b_row["submitted_by"]) == ("B", a_row["job_id"], "route")
    assert b_row["source_event_id"] and b_row["route_key"] == "p/step_2"
    b_req = recorded(rec_dir)[b_row["job_id"]]
    expected = {
        "result": "a-done",
        "ductile_upstream_plugin": "A",
        "ductile_upstream_pipeline": "p",
        "ductile_upstream_step_id": "step_1",
    }
    assert b_req["event"]["payload"].items() >= expected.items() and "k" not in b_req["event"]["payload"]
    assert b_req["event"]["type"] == "ductile.step.succeeded"
    assert b_req["context"]["ductile_route_depth"] == 2 and b_req["context"]["ductile_pipeline"] == "p"
    assert body["result"] == {"status": "ok", "result": "ok", "events": [], "retry": True, "error": "boom"}
    a_req = recorded(rec_dir)[a_row["job_id"]]
    assert a_req["event"]["timestamp"] == "0001-01-01T00:00:00Z" and a_req["event"]["type"] == "x"

    # -- scenario 6: a gated step becomes a core.switch job -----------------------------------
    yes = post(gw, "/pipeline/gt", {"payload": {}}).json()
    plugins = by_plugin(yes["tree"])
    assert sorted(plugins) == ["A6t", "B", "C", "core.switch"]
    assert plugins["core.switch"][0]["result"] == {"matched": True, "event": "ductile.switch.true"}
    switch_row = next(j for j in rows_of(gw, yes["job_id"]) if j["plugin"] == "core.switch")
    assert switch_row["step_id"] == "b__switch"
    no = post(gw, "/pipeline/gf", {"payload": {}}).json()
    plugins = by_plugin(no["tree"])
    assert sorted(plugins) == ["A6f", "C", "core.switch"]
    assert plugins["core.switch"][0]["result"] == {"matched": False, "event": "ductile.switch.false"}
    c_id = plugins["C"][0]["job_id"]
    assert recorded(rec_dir)[c_id]["event"]["type"] == "ductile.switch.false"
    assert all(item["status"] != "skipped" for item in yes["tree"] + no["tree"])

    # -- scenario 7: `with` keeps single references typed; a missing path fails the job --------
    ok7 = post(gw, "/pipeline/w7a", {}).json()
    b7 = by_plugin(ok7["tree"])["B7"][0]
    payload = recorded(rec_dir)[b7["job_id"]]["event"]["payload"]
    assert (payload["n"], payload["s"], payload["lit"]) == (3, "x=3", "payload.count")
    bad7 = post(gw, "/pipeline/w7b", {}).json()
    assert bad7["status"] == "failed"
    [b7_row] = [j for j in rows_of(gw, bad7["job_id"]) if j["plugin"] == "B7"]
    assert b7_row["status"] == "failed" and b7_row["attempt"] == 1
    assert "apply with remap for w7b/step_2" in b7_row["last_error"] and "path not found" in b7_row["last_error"]

    # -- scenario 8: inherited baggage is immutable --------------------------------------------
    bag = post(gw, "/pipeline/bag", {"payload": {"rid": "r1"}}).json()
    [a8] = rows_of(gw, bag["job_id"])
    assert a8["status"] == "failed"
    assert a8["last_error"].startswith("failed to route events: apply baggage claims for bag:b")
    a8_req = recorded(rec_dir)[a8["job_id"]]
    assert a8_req["context"]["run"] == {"id": "r1"}
    same = post(gw, "/pipeline/bageq", {"payload": {"rid": "r1"}}).json()
    assert same["status"] == "succeeded"
    b8 = by_plugin(same["tree"])["B8"][0]
    assert recorded(rec_dir)[b8["job_id"]]["context"]["run"] == {"id": "r1"}

    # -- scenario 10: split without join; call as a tail call ------------------------------------
    fan = post(gw, "/pipeline/fan", {"payload": {}}).json()
    rows = rows_of(gw, fan["job_id"])
    ds = [j for j in rows if j["plugin"] == "D"]
    parents = {j["job_id"]: j["plugin"] for j in rows}
    assert len(ds) == 2 and sorted(parents[d["parent_job_id"]] for d in ds) == ["B", "C"]
    called = post(gw, "/pipeline/caller", {"payload": {}}).json()
    rows = rows_of(gw, called["job_id"])
    assert sorted(j["plugin"] for j in rows) == ["S10", "X"]
    s10, x = sorted(rows, key=lambda j: j["plugin"])
    assert x["pipeline"] == "q" and x["route_key"] == "q/step_1"
    s_ctx = recorded(rec_dir)[s10["job_id"]]["context"]
    x_ctx = recorded(rec_dir)[x["job_id"]]["context"]
    assert x_ctx["ductile_pipeline_instance_id"] == s_ctx["ductile_pipeline_instance_id"]

    # -- scenario 11: max_depth 1 stops after the first step -------------------------------------
    md = post(gw, "/pipeline/md", {"payload": {}}).json()
    assert [j["plugin"] for j in rows_of(gw, md["job_id"])] == ["T11"]

    # -- scenario 12: same event id collapses per route; two pipelines of one plugin both run ----
    started = post(gw, "/plugin/A12/handle", {"payload": {}})
    assert started.status_code == 202, started.text
    root = started.json()["job_id"]
    wait_for(lambda: len(rows_of(gw, root)) >= 4 and all(j["status"] == "succeeded" for j in rows_of(gw, root)))
    time.sleep(0.3)
    rows = rows_of(gw, root)
    assert sorted(j["plugin"] for j in rows) == ["A12", "E", "E", "F12"]
    assert sorted(j["route_key"] for j in rows if j["plugin"] == "E") == ["p5/step_1", "p6/step_1"]
    assert all(j["source_event_id"] == "e1" for j in rows if j["plugin"] != "A12")


def test_pipeline_api_answers(tmp_path: Path, gateways: Gateways):
    """§10 scenarios 15 (ours O17: a 503 writes nothing) and 9 (oversize root baggage is a 413)."""
    r = tmp_path / "rec"
    plugins = {"S": rec(r, sleep_s=3), "B": rec(r), "C": rec(r)}
    pipelines = [
        {"name": "slow", "on": "s", "execution_mode": "synchronous", "timeout": "1s", "steps": [{"uses": "S"}]},
        {
            "name": "wide",
            "on": "w",
            "execution_mode": "synchronous",
            "steps": [{"split": [{"uses": "B"}, {"uses": "C"}]}],
        },
        {"name": "big", "on": "b", "steps": [{"uses": "B", "baggage": {"blob.x": "payload.big"}}]},
    ]
    gw = gateways.start(plugins, pipelines, api={"max_concurrent_sync": 1, "max_body_bytes": 4 * 1024 * 1024})

    oversize = post(gw, "/pipeline/big", {"payload": {"big": "x" * 1_100_000}})
    assert oversize.status_code == 413, oversize.text
    body = oversize.json()
    assert body["error"] == "pipeline baggage exceeds maximum context size"
    assert body["bytes_limit"] == 1048576 and body["bytes_actual"] > 1048576
    assert jobs(gw.db_path) == [] and db_rows(gw.db_path, "SELECT * FROM event_contexts") == []

    answers: list[Any] = []
    first = threading.Thread(target=lambda: answers.append(post(gw, "/pipeline/slow", {})))
    first.start()
    wait_for(lambda: len(jobs(gw.db_path)) == 1, message="the first synchronous call enqueued")
    refused = post(gw, "/pipeline/slow", {})
    assert refused.status_code == 503 and refused.json() == {"error": "too many concurrent synchronous requests"}
    first.join(timeout=30)
    [waited] = answers
    assert waited.status_code == 202, waited.text
    body = waited.json()
    assert body["timeout_exceeded"] is True and body["status"] == "running"
    assert body["message"] == "Pipeline still running after timeout."
    assert len(jobs(gw.db_path)) == 1  # the refused call left nothing behind
    [done] = wait_settled(gw.db_path, at_least=1, timeout=30)
    assert done["status"] == "succeeded"

    wide = post(gw, "/pipeline/wide", {})
    assert wide.status_code == 400
    assert wide.json() == {
        "error": "synchronous pipeline trigger requires exactly one entry dispatch; "
        "use ?async=true for fan-out entry pipelines"
    }
    assert post(gw, "/pipeline/nope", {}).status_code == 404
    assert post(gw, "/pipeline/nope", {}).json() == {"error": "pipeline not found"}
    fanned = post(gw, "/pipeline/wide?async=true", {"payload": {"a": 1}})
    assert fanned.status_code == 202
    assert {k: v for k, v in fanned.json().items() if k != "job_id"} == {
        "plugin": "pipeline",
        "command": "wide",
        "status": "queued",
    }
    assert post(gw, "/pipeline/slow", {"payload": [1]}).json() == {"error": "payload must be a JSON object"}
    with gw.client() as client:
        raw = client.post("/pipeline/slow", content=b"{not json", headers={"Content-Type": "application/json"})
    assert raw.status_code == 400 and raw.json() == {"error": "invalid JSON body"}
    settled = wait_settled(gw.db_path, at_least=3, timeout=30)
    assert sorted(j["plugin"] for j in settled) == ["B", "C", "S"]
