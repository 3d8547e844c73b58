"""Auth matrix over every endpoint, and the plugin catalog / invoke endpoints."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from conftest import ADMIN_TOKEN, enqueue, wait_for
from live_gateway import SCOPES, live, scope_token, seed, stamp  # noqa: F401 - `live` is a fixture

# Which single scopes (besides *) get 200/202, written out rather than derived from auth.IMPLIES,
# so a wrong implication table fails here. Every other valid token gets 403.
STATUS = {"jobs:ro", "jobs:rw", "jobs:status:ro"}
LOGS = {"jobs:ro", "jobs:rw", "jobs:logs:ro"}
CATALOG = {"plugin:ro", "plugin:rw", "plugin:catalog:ro"}
INVOKE = {"plugin:rw", "plugin:invoke:ro"}  # plugin:ro is catalog-only: it cannot invoke (Ductile)
MATRIX: list[tuple[str, str, set[str] | None]] = [
    ("GET", "/jobs", STATUS),
    ("GET", "/job/{job_id}", STATUS),
    ("GET", "/job/{job_id}/detail", STATUS),
    ("GET", "/job-logs", LOGS),
    ("GET", "/job-attempts", LOGS),
    ("GET", "/job/{job_id}/tree", {"jobs:ro", "jobs:rw", "jobs:tree:ro"}),
    ("GET", "/pipelines", {"jobs:ro", "jobs:rw", "jobs:tree:ro"}),
    ("POST", "/job/{queued_id}/cancel", {"jobs:rw"}),
    ("GET", "/schedules", STATUS),
    ("GET", "/analytics/summary", STATUS),
    ("GET", "/analytics/queue", STATUS),
    ("GET", "/stopwatch/alpha?include_subs=true", STATUS),
    ("GET", "/plugins", None),  # any valid token
    ("GET", "/skills", None),
    ("GET", "/.well-known/ai-plugin.json", None),
    ("GET", "/plugin/alpha/openapi.json", None),
    ("GET", "/plugin/alpha", CATALOG),
    ("GET", "/plugin-state", CATALOG),
    ("POST", "/plugin/alpha/poll", INVOKE),
    ("POST", "/plugin/alpha/handle", {"plugin:rw"}),
    ("GET", "/nodes", {"system:ro", "system:rw"}),
    ("GET", "/config/view", {"system:ro", "system:rw"}),
    ("GET", "/topology", {"system:ro", "system:rw"}),
    ("GET", "/system/doctor", {"system:ro", "system:rw"}),
    ("GET", "/system/selfcheck", {"system:ro", "system:rw"}),
    ("POST", "/system/reload?dry_run=true", {"system:rw"}),  # a dry run: checks and diffs, changes nothing
]


def _call(live: Any, method: str, path: str, headers: dict[str, str]) -> httpx.Response:  # noqa: F811
    if "{queued_id}" in path:
        [job_id] = seed(live.db_path, [{"plugin": "authz", "status": "queued", "created_at": stamp(8)}])
        path = path.replace("{queued_id}", job_id)
    if "{job_id}" in path:
        [job_id] = seed(live.db_path, [{"plugin": "authz", "created_at": stamp(8)}])
        path = path.replace("{job_id}", job_id)
    return httpx.request(method, live.url + path, headers=headers, timeout=10)


@pytest.mark.parametrize(("method", "path", "allowed"), MATRIX)
def test_no_token_and_wrong_token_are_401(live: Any, method: str, path: str, allowed: Any) -> None:  # noqa: F811
    none = _call(live, method, path, {})
    assert none.status_code == 401 and none.headers["www-authenticate"].startswith("Bearer")
    assert "error" in none.json()
    wrong = _call(live, method, path, {"Authorization": "Bearer not-a-real-token-000"})
    assert wrong.status_code == 401 and 'error="invalid_token"' in wrong.headers["www-authenticate"]
    basic = _call(live, method, path, {"Authorization": "Basic YWRtaW46YWRtaW4="})
    assert basic.status_code == 401


@pytest.mark.parametrize("scope", [*SCOPES, "*"])
@pytest.mark.parametrize(("method", "path", "allowed"), MATRIX)
def test_each_scope_against_each_endpoint(live: Any, method: str, path: str, allowed: Any, scope: str) -> None:  # noqa: F811
    token = ADMIN_TOKEN if scope == "*" else scope_token(scope)
    response = _call(live, method, path, {"Authorization": f"Bearer {token}"})
    ok = scope == "*" or allowed is None or scope in allowed
    if ok:
        assert response.status_code in (200, 202), response.text
    else:
        assert response.status_code == 403, response.text
        assert response.json()["error"].startswith("insufficient scope")


RESULT_SCOPES = {"jobs:ro", "jobs:rw", "jobs:result:ro"}


@pytest.fixture(scope="module")
def finished_job(live: Any) -> str:  # noqa: F811
    """One real job that ran to the end (attempt record, result, stderr column)."""
    job_id = enqueue(live.url, ADMIN_TOKEN, "alpha", "poll", {"n": 1})
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    wait_for(lambda: httpx.get(f"{live.url}/job/{job_id}", headers=admin).json()["status"] == "succeeded")
    return job_id


@pytest.mark.parametrize("scope", ["jobs:ro", "jobs:status:ro", "jobs:logs:ro", "jobs:result:ro", "jobs:rw"])
def test_results_errors_and_stderr_need_jobs_result_ro(live: Any, finished_job: str, scope: str) -> None:  # noqa: F811
    """C5: without jobs:result:ro, /job/{id} and /job-logs leave results, errors and stderr out."""
    headers = {"Authorization": f"Bearer {scope_token(scope)}"}
    sees = scope in RESULT_SCOPES
    job = httpx.get(f"{live.url}/job/{finished_job}", headers=headers, timeout=10)
    if scope in STATUS:
        assert job.status_code == 200
        assert ("result" in job.json()) is sees
    else:
        assert job.status_code == 403
    logs = httpx.get(
        f"{live.url}/job-logs", params={"job_id": finished_job, "include_result": "true"}, headers=headers, timeout=10
    )
    if scope in LOGS:
        body = logs.json()
        [record] = body["logs"]
        assert body["total"] == 1 and record["log_id"] == f"{finished_job}-1"
        for field in ("result", "last_error", "error", "stderr"):
            assert (field in record) is sees, (field, record)
    else:
        assert logs.status_code == 403


@pytest.mark.parametrize("path", ["/", "/healthz", "/openapi.json"])
def test_open_endpoints_need_no_token(live: Any, path: str) -> None:  # noqa: F811
    assert httpx.get(live.url + path).status_code == 200


# -- catalog --------------------------------------------------------------------------------


def test_plugins_catalog(live: Any) -> None:  # noqa: F811
    with live.client() as api:
        body = api.get("/plugins").json()
    names = [p["name"] for p in body["plugins"]]
    assert names == ["alpha", "beta"]
    beta = body["plugins"][1]
    assert beta["plugin"] == "alpha" and beta["commands"] == ["poll", "handle", "store"]


def test_plugin_detail_and_404(live: Any) -> None:  # noqa: F811
    with live.client() as api:
        body = api.get("/plugin/alpha").json()
        store = next(c for c in body["commands"] if c["name"] == "store")
        assert store["type"] == "write" and store["input_schema"]["required"] == ["count"]
        missing = api.get("/plugin/nope")
    assert missing.status_code == 404 and "known: alpha, beta" in missing.json()["error"]


# -- invoke ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def api(live: Any) -> Any:  # noqa: F811
    with live.client() as client:
        yield client


def test_invoke_returns_202_queued(api: httpx.Client) -> None:
    response = api.post("/plugin/alpha/poll", json={"payload": {"x": 1}})
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued" and body["plugin"] == "alpha" and body["command"] == "poll"
    assert api.get(f"/job/{body['job_id']}").json()["submitted_by"] == "api"


def test_invoke_without_body_is_fine(api: httpx.Client) -> None:
    assert api.post("/plugin/alpha/poll").status_code == 202


def test_invoke_unknown_plugin_or_command_400_lists_known(api: httpx.Client) -> None:
    """A6: 400 with Ductile's words first, then what is known."""
    plugin = api.post("/plugin/nope/poll")
    assert plugin.status_code == 400 and plugin.json()["error"].startswith("plugin not found")
    assert "known: alpha, beta" in plugin.json()["error"]
    command = api.post("/plugin/alpha/nope")
    assert command.status_code == 400 and command.json()["error"].startswith("command not supported by plugin")
    assert "known: poll, handle, store" in command.json()["error"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "payload"),  # required count missing
        ({"count": "3"}, "payload.count"),
        ({"count": -1}, "payload.count"),
        ({"count": 1, "extra": True}, "payload"),
        ([1, 2], "payload"),
    ],
)
def test_invoke_validates_input_schema(api: httpx.Client, payload: Any, field: str) -> None:
    response = api.post("/plugin/alpha/store", json={"payload": payload})
    assert response.status_code == 400, response.text
    assert response.json()["error"].startswith(f"{field}:")


def test_invoke_accepts_valid_payload(api: httpx.Client) -> None:
    assert api.post("/plugin/alpha/store", json={"payload": {"count": 2, "tag": "ü"}}).status_code == 202


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"not json", "not valid JSON"),
        (b"{", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[1]", "must be a JSON object"),
        (b'"text"', "must be a JSON object"),
        (b'{"payload": {}, "junk": 1}', "unknown body field"),
    ],
)
def test_invoke_bad_bodies_are_400(api: httpx.Client, content: bytes, needle: str) -> None:
    response = api.post("/plugin/alpha/poll", content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and needle in response.json()["error"]


def test_invoke_oversized_body_is_413(api: httpx.Client) -> None:
    big = b'{"payload": "' + b"x" * 5000 + b'"}'
    response = api.post("/plugin/alpha/poll", content=big)
    assert response.status_code == 413 and "4096" in response.json()["error"]

    def chunks() -> Any:  # no Content-Length: the limit is enforced while reading
        for _ in range(10):
            yield b"x" * 1000

    streamed = api.post("/plugin/alpha/poll", content=chunks())
    assert streamed.status_code == 413


def test_idempotency_key_returns_the_original_job(api: httpx.Client) -> None:
    headers = {"Idempotency-Key": "order-7781"}
    first = api.post("/plugin/alpha/handle", json={"payload": {"n": 1}}, headers=headers)
    second = api.post("/plugin/alpha/handle", json={"payload": {"n": 1}}, headers=headers)
    assert first.status_code == 202 and first.json()["duplicate"] is False
    assert second.status_code == 200 and second.json()["duplicate"] is True
    assert second.json()["job_id"] == first.json()["job_id"]
    other = api.post("/plugin/alpha/handle", json={"payload": {"n": 1}}, headers={"Idempotency-Key": "order-7782"})
    assert other.status_code == 202 and other.json()["job_id"] != first.json()["job_id"]


def test_bad_idempotency_key_is_400(api: httpx.Client) -> None:
    response = api.post("/plugin/alpha/poll", headers={"Idempotency-Key": "has space"})
    assert response.status_code == 400 and response.json()["error"].startswith("Idempotency-Key")


def test_method_not_allowed_is_405_json(api: httpx.Client) -> None:
    response = api.delete("/jobs")
    assert response.status_code == 405 and "error" in response.json()
