"""GET /job/{id}/tree against a live gateway: shape, order, scope shaping with and without
jobs:result:ro, redaction, unknown ids; and the lineage filters of GET /jobs."""

from __future__ import annotations

import sqlite3
from typing import Any

import httpx
import pytest
from conftest import ADMIN_TOKEN
from live_gateway import live, scope_token, seed, stamp  # noqa: F401 - `live` is a fixture

TREE_FIELDS = {
    "job_id",
    "parent_job_id",
    "plugin",
    "command",
    "status",
    "result",
    "last_error",
    "started_at",
    "completed_at",
}


def _link(db_path: Any, child: str, parent: str) -> None:
    with sqlite3.connect(db_path, timeout=10) as db:
        db.execute("UPDATE jobs SET parent_job_id = ? WHERE job_id = ?", (parent, child))


def _response(db_path: Any, job_id: str, attempt: int, response: str | None) -> None:
    with sqlite3.connect(db_path, timeout=10) as db:
        db.execute(
            "INSERT INTO attempts (job_id, attempt, plugin, command, submitted_by, started_at, completed_at,"
            " outcome, status, response) VALUES (?, ?, 'lineage', 'handle', 'route', ?, ?, 'success', 'succeeded', ?)",
            (job_id, attempt, stamp(6), stamp(6), response),
        )


@pytest.fixture(scope="module")
def family(live: Any) -> dict[str, str]:  # noqa: F811
    """root → (b at 0:05, a at 0:02 failed) ; a → a1 ; b → b1 (created before a, depth 2)."""
    root, b, a, a1, b1 = seed(
        live.db_path,
        [
            {"plugin": "lineage", "command": "handle", "created_at": stamp(6, 0)},
            {"plugin": "lineage", "command": "b", "created_at": stamp(6, 5), "submitted_by": "route"},
            {
                "plugin": "lineage",
                "command": "a",
                "created_at": stamp(6, 2),
                "status": "failed",
                "submitted_by": "route",
            },
            {
                "plugin": "lineage",
                "command": "a1",
                "created_at": stamp(6, 4),
                "status": "queued",
                "submitted_by": "route",
            },
            {"plugin": "lineage", "command": "b1", "created_at": stamp(6, 1), "submitted_by": "hook"},
        ],
    )
    for child, parent in ((b, root), (a, root), (a1, a), (b1, b)):
        _link(live.db_path, child, parent)
    _response(live.db_path, root, 1, '{"status":"ok","result":"root-done","api_token":"hunter2"}')
    _response(live.db_path, a, 1, '{"status":"error","error":"boom"}')
    return {"root": root, "a": a, "b": b, "a1": a1, "b1": b1}


def _tree(live: Any, job_id: str, token: str = ADMIN_TOKEN) -> httpx.Response:  # noqa: F811
    return httpx.get(f"{live.url}/job/{job_id}/tree", headers={"Authorization": f"Bearer {token}"}, timeout=10)


def test_tree_order_and_shape_with_results(live: Any, family: dict[str, str]) -> None:  # noqa: F811
    response = _tree(live, family["root"])
    assert response.status_code == 200
    items = response.json()
    assert [i["job_id"] for i in items] == [family[k] for k in ("root", "a", "b", "b1", "a1")]
    for item in items:
        assert set(item) <= TREE_FIELDS
        assert all(v is not None for v in item.values())  # nulls omitted
    root, a, b, b1, a1 = items
    assert "parent_job_id" not in root
    assert a["parent_job_id"] == b["parent_job_id"] == family["root"]
    assert b1["parent_job_id"] == family["b"] and a1["parent_job_id"] == family["a"]
    assert root["result"] == {"status": "ok", "result": "root-done", "api_token": "***"}  # redacted
    assert a["status"] == "failed" and a["last_error"] == "boom" and a["result"]["error"] == "boom"
    assert "result" not in b and "started_at" not in a1 and "completed_at" not in a1  # queued: no times
    assert root["started_at"] == stamp(6, 0) and root["plugin"] == "lineage" and root["command"] == "handle"


def test_subtree_is_rooted_at_the_asked_job(live: Any, family: dict[str, str]) -> None:  # noqa: F811
    items = _tree(live, family["a"]).json()
    assert [i["job_id"] for i in items] == [family["a"], family["a1"]]
    assert items[0]["parent_job_id"] == family["root"]  # the asked job keeps its own parent


@pytest.mark.parametrize("job_id", ["no-such-job", "x" * 65, "%20"])
def test_unknown_id_is_an_empty_tree(live: Any, job_id: str) -> None:  # noqa: F811
    response = _tree(live, job_id)
    assert response.status_code == 200 and response.json() == []


def test_tree_only_token_sees_no_results_or_errors(live: Any, family: dict[str, str]) -> None:  # noqa: F811
    items = _tree(live, family["root"], scope_token("jobs:tree:ro")).json()
    assert len(items) == 5
    assert all("result" not in i and "last_error" not in i for i in items)
    assert items[1]["status"] == "failed"


@pytest.mark.parametrize("scope", ["jobs:ro", "jobs:rw"])
def test_jobs_scopes_imply_tree_and_results(live: Any, family: dict[str, str], scope: str) -> None:  # noqa: F811
    items = _tree(live, family["root"], scope_token(scope)).json()
    assert items[0]["result"]["result"] == "root-done" and items[1]["last_error"] == "boom"


@pytest.mark.parametrize("scope", ["jobs:result:ro", "plugin:rw", "events:ro"])
def test_other_scopes_are_refused(live: Any, family: dict[str, str], scope: str) -> None:  # noqa: F811
    response = _tree(live, family["root"], scope_token(scope))
    assert response.status_code == 403 and "jobs:tree:ro" in response.json()["error"]


def test_tree_of_a_real_job_shows_its_result(live: Any) -> None:  # noqa: F811
    from conftest import enqueue, wait_for

    job_id = enqueue(live.url, ADMIN_TOKEN, "alpha", "handle", {"n": 1})
    wait_for(lambda: _tree(live, job_id).json()[0]["status"] == "succeeded", message="job done")
    [item] = _tree(live, job_id).json()
    assert item["result"]["status"] == "ok" and item["result"]["result"]["command"] == "handle"
    assert item["started_at"] <= item["completed_at"]


# -- GET /jobs lineage filters and GET /job/{id} lineage -----------------------------------


@pytest.fixture(scope="module")
def routed(live: Any) -> dict[str, Any]:  # noqa: F811
    """A source job that emitted two events; e1 started two pipeline children (p-lin/one and
    p-lin/two), e2 none; a hook child without event; plus an older p-lin step elsewhere."""
    source, c1, c2, hook, other = seed(
        live.db_path,
        [
            {"plugin": "src", "command": "poll", "created_at": stamp(7, 0)},
            {"plugin": "k1", "command": "handle", "created_at": stamp(7, 1), "status": "failed"},
            {"plugin": "k2", "command": "handle", "created_at": stamp(7, 2), "status": "queued"},
            {"plugin": "hooked", "command": "handle", "created_at": stamp(7, 3), "submitted_by": "hook"},
            {"plugin": "k1", "command": "handle", "created_at": stamp(5, 0)},
        ],
    )
    with sqlite3.connect(live.db_path, timeout=10) as db:
        for job_id, step, event in ((c1, "one", "e1"), (c2, "two", "e1"), (other, "one", "e0")):
            db.execute(
                "UPDATE jobs SET parent_job_id = ?, pipeline = 'p-lin', step_id = ?, source_event_id = ?,"
                " route_key = 'p-lin/' || ? WHERE job_id = ?",
                (source if job_id != other else "elsewhere", step, event, step, job_id),
            )
        db.execute("UPDATE jobs SET parent_job_id = ?, route_key = '' WHERE job_id = ?", (source, hook))
        for n, (event_id, kind, payload) in enumerate(
            (("e1", "x.found", '{"n":1,"password":"pw","result":"r"}'), ("e2", "y.none", "null"))
        ):
            db.execute(
                "INSERT INTO plugin_events (job_id, instance, type, payload, created_at, event_id)"
                " VALUES (?, 'src', ?, ?, ?, ?)",
                (source, kind, payload, stamp(7, n), event_id),
            )
    return {"source": source, "c1": c1, "c2": c2, "hook": hook, "other": other}


def _jobs(live: Any, **params: Any) -> httpx.Response:  # noqa: F811
    return httpx.get(f"{live.url}/jobs", params=params, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})


def test_jobs_filter_by_parent(live: Any, routed: dict[str, Any]) -> None:  # noqa: F811
    body = _jobs(live, parent_job_id=routed["source"]).json()
    assert [j["job_id"] for j in body["jobs"]] == [routed["hook"], routed["c2"], routed["c1"]]
    assert body["total"] == 3
    narrowed = _jobs(live, parent_job_id=routed["source"], status="failed,queued", limit=1).json()
    assert narrowed["total"] == 2 and [j["job_id"] for j in narrowed["jobs"]] == [routed["c2"]]
    assert narrowed["next_cursor"]
    rest = _jobs(live, parent_job_id=routed["source"], status="failed,queued", cursor=narrowed["next_cursor"])
    assert [j["job_id"] for j in rest.json()["jobs"]] == [routed["c1"]]
    assert _jobs(live, parent_job_id="nobody").json() == {"jobs": [], "total": 0, "next_cursor": None}


def test_jobs_filter_by_pipeline(live: Any, routed: dict[str, Any]) -> None:  # noqa: F811
    body = _jobs(live, pipeline="p-lin").json()
    assert [j["job_id"] for j in body["jobs"]] == [routed["c2"], routed["c1"], routed["other"]]
    assert body["total"] == 3
    windowed = _jobs(live, pipeline="p-lin", created_after="2020-01-07T00:00:00Z", plugin="k1").json()
    assert windowed["total"] == 1 and [j["job_id"] for j in windowed["jobs"]] == [routed["c1"]]
    assert _jobs(live, pipeline="p-lin", parent_job_id=routed["source"]).json()["total"] == 2


@pytest.mark.parametrize("name", ["parent_job_id", "pipeline"])
@pytest.mark.parametrize("value", ["", "x" * 201, "a\x00b"])
def test_bad_lineage_filters_are_400(live: Any, name: str, value: str) -> None:  # noqa: F811
    response = _jobs(live, **{name: value})
    assert response.status_code == 400 and response.json()["error"].startswith(f"{name}: ")


def test_bad_lineage_filter_given_twice_is_400(live: Any) -> None:  # noqa: F811
    response = httpx.get(f"{live.url}/jobs?pipeline=a&pipeline=b", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert response.status_code == 400 and "given 2 times" in response.json()["error"]


def test_job_lists_emitted_events_and_children(live: Any, routed: dict[str, Any]) -> None:  # noqa: F811
    body = httpx.get(f"{live.url}/job/{routed['source']}", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json()
    assert "parent_job_id" not in body and "pipeline" not in body
    assert body["events"] == [
        {
            "event_id": "e1",
            "type": "x.found",
            "payload": {"n": 1, "password": "***", "result": "r"},
            "created_at": stamp(7, 0),
            "children": [routed["c1"], routed["c2"]],
        },
        {"event_id": "e2", "type": "y.none", "payload": None, "created_at": stamp(7, 1), "children": []},
    ]
    assert body["children"] == [
        {
            "job_id": routed["c1"],
            "plugin": "k1",
            "command": "handle",
            "status": "failed",
            "pipeline": "p-lin",
            "step_id": "one",
        },
        {
            "job_id": routed["c2"],
            "plugin": "k2",
            "command": "handle",
            "status": "queued",
            "pipeline": "p-lin",
            "step_id": "two",
        },
        {"job_id": routed["hook"], "plugin": "hooked", "command": "handle", "status": "succeeded"},
    ]
    child = httpx.get(f"{live.url}/job/{routed['c1']}", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json()
    assert child["parent_job_id"] == routed["source"]
    assert child["pipeline"] == "p-lin" and child["step_id"] == "one"
    assert child["events"] == [] and child["children"] == []


# -- GET /pipelines --------------------------------------------------------------------------

PIPELINES = [
    {"name": "tidy", "on": "repo.go", "steps": [{"uses": "alpha"}, {"id": "notes", "uses": "beta"}]},
    {"name": "ping", "on-hook": "job.failed", "from_plugin": "alpha", "steps": [{"uses": "beta"}]},
]


@pytest.fixture(scope="module")
def piped(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from live_gateway import start_gateway

    gw = start_gateway(tmp_path_factory.mktemp("pipelines"), pipelines=PIPELINES)
    yield gw
    gw.stop()


def _pipelines(gw: Any, token: str = ADMIN_TOKEN) -> httpx.Response:
    return httpx.get(f"{gw.url}/pipelines", headers={"Authorization": f"Bearer {token}"}, timeout=10)


def test_pipelines_list_definitions_and_last_instance(piped: Any) -> None:
    body = _pipelines(piped).json()
    assert [p["name"] for p in body["pipelines"]] == ["ping", "tidy"]
    ping, tidy = body["pipelines"]
    assert ping == {
        "name": "ping",
        "on": None,
        "on_hook": "job.failed",
        "from_plugin": "alpha",
        "execution_mode": "async",
        "steps": ["step_1"],
        "last": None,
    }
    assert tidy["on"] == "repo.go" and tidy["steps"] == ["step_1", "notes"] and tidy["last"] is None
    entry, step2 = seed(
        piped.db_path,
        [
            {"plugin": "alpha", "command": "handle", "created_at": stamp(9, 0), "submitted_by": "api"},
            {"plugin": "beta", "command": "handle", "created_at": stamp(9, 1), "status": "failed"},
        ],
    )
    with sqlite3.connect(piped.db_path, timeout=10) as db:
        for cid, step in (("c-1", "step_1"), ("c-2", "notes")):
            db.execute(
                "INSERT INTO event_contexts (id, parent_id, pipeline_name, step_id, instance_id, accumulated,"
                " created_at) VALUES (?, NULL, 'tidy', ?, 'inst-7', '{}', ?)",
                (cid, step, stamp(9)),
            )
        db.execute("UPDATE jobs SET pipeline='tidy', step_id='step_1', event_context_id='c-1' WHERE job_id=?", (entry,))
        db.execute(
            "UPDATE jobs SET pipeline='tidy', step_id='notes', event_context_id='c-2', parent_job_id=? WHERE job_id=?",
            (entry, step2),
        )
    last = _pipelines(piped).json()["pipelines"][1]["last"]
    assert last == {
        "instance_id": "inst-7",
        "job_id": entry,
        "status": "failed",
        "started_at": stamp(9, 0),
        "completed_at": stamp(9, 1),
        "duration_ms": 1000.0,
        "job_count": 2,
    }


@pytest.mark.parametrize(("scope", "code"), [("jobs:tree:ro", 200), ("jobs:ro", 200), ("plugin:rw", 403)])
def test_pipelines_scope(piped: Any, scope: str, code: int) -> None:
    assert _pipelines(piped, scope_token(scope)).status_code == code


def test_pipelines_without_any_configured(live: Any) -> None:  # noqa: F811
    assert _pipelines(live).json() == {"pipelines": []}


def test_tree_masks_credentials_in_last_error(live: Any) -> None:  # noqa: F811
    """The same text rule as GET /job/{id}: a secret a plugin put in its error never leaves as typed."""
    [job] = seed(
        live.db_path,
        [
            {
                "plugin": "lineage",
                "command": "leaky",
                "created_at": stamp(7),
                "status": "failed",
                "last_error": "login refused: password=hunter2 for https://bob:s3cret@example.org/x",
            }
        ],
    )
    [item] = _tree(live, job).json()
    assert "hunter2" not in item["last_error"] and "s3cret" not in item["last_error"]
    assert item["last_error"].startswith("login refused: password=***")


@pytest.mark.parametrize("path", ["/job/{id}", "/job/{id}/detail"])
def test_event_payloads_need_the_result_scope(live: Any, routed: dict[str, Any], path: str) -> None:  # noqa: F811
    """A step's event payload carries its result: a status-only token sees the events and their
    routed children, never their payloads; jobs:ro (which holds jobs:result:ro) sees them, redacted."""
    url = f"{live.url}{path.format(id=routed['source'])}"
    status_only = httpx.get(url, headers={"Authorization": f"Bearer {scope_token('jobs:status:ro')}"}, timeout=10)
    assert status_only.status_code == 200
    events = status_only.json()["events"]
    assert [e["event_id"] for e in events] == ["e1", "e2"]
    assert all("payload" not in e for e in events)
    assert events[0]["children"] == [routed["c1"], routed["c2"]]
    assert "hunter" not in status_only.text and '"result": "r"' not in status_only.text
    with_results = httpx.get(url, headers={"Authorization": f"Bearer {scope_token('jobs:ro')}"}, timeout=10)
    assert with_results.json()["events"][0]["payload"] == {"n": 1, "password": "***", "result": "r"}
