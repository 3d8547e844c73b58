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
