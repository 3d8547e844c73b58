"""Hostile requests against a real gateway over loopback (issue 7, findings 2 and 9).

Every route gets malformed JSON, a wrong Content-Type, a 20 MB body, deep nesting and lone
surrogates; filters and path parameters get SQL metacharacters and path traversal; limits get
huge, negative, NaN and non-numeric values. Each answer is the exact status whose body names the
problem — never a 500 — and the jobs acknowledged before the barrage all still ran afterwards.
Every line the gateway wrote meanwhile (`log_format: json`) must parse as one JSON object (the
`gw` fixture checks that when it stops). HTTP-level limits: test_http_limits.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from conftest import wait_for

from adversarial import hostile
from adversarial.hostile import AUTH, UNKNOWN_JOB, GatewayProcess, auth_line, error, raw_request, terminal

gw = hostile.gw  # module-scoped fixtures: one gateway for this module
acknowledged = hostile.acknowledged

# ---------------------------------------------------------------------------------- every route


def test_route_list_is_the_discovery_list(gw: GatewayProcess) -> None:
    """Adding a route without giving it to this suite fails here."""
    listed = {(e["method"], e["path"]) for e in httpx.get(f"{gw.url}/", timeout=10).json()["endpoints"]}
    assert listed == {(m, p) for m, p, _ in ROUTES}


# (method, path template, the status a clean request gets with the admin token)
ROUTES: list[tuple[str, str, int]] = [
    ("GET", "/", 200),
    ("GET", "/healthz", 200),
    ("GET", "/openapi.json", 200),
    ("GET", "/plugins", 200),
    ("GET", "/plugin/{name}", 200),
    ("POST", "/plugin/{plugin}/{command}", 202),
    ("GET", "/plugin-state", 200),
    ("GET", "/jobs", 200),
    ("GET", "/job/{job_id}", 404),
    ("GET", "/job/{job_id}/detail", 404),
    ("GET", "/job/{job_id}/tree", 200),  # an unknown id is an empty tree (pipelines.md §6.2)
    ("GET", "/pipelines", 200),
    ("POST", "/pipeline/{name}", 404),  # no such pipeline: answered before the body is read (§6.1)
    ("POST", "/job/{job_id}/cancel", 404),
    ("GET", "/job-logs", 200),
    ("GET", "/job-attempts", 200),
    ("GET", "/schedules", 200),
    ("GET", "/events", 200),
    ("GET", "/skills", 200),
    ("GET", "/.well-known/ai-plugin.json", 200),
    ("GET", "/plugin/{name}/openapi.json", 200),
    ("GET", "/analytics/summary", 200),
    ("GET", "/analytics/queue", 200),
    ("GET", "/stopwatch/{plugin}", 200),
    ("GET", "/breakers", 200),
    ("GET", "/breakers/{plugin}", 200),
    ("POST", "/breakers/{plugin}/{command}/reset", 200),
    ("POST", "/schedules/{plugin}/{schedule_id}/pause", 404),  # alpha has no schedules
    ("POST", "/schedules/{plugin}/{schedule_id}/resume", 404),
    ("POST", "/schedules/{plugin}/{schedule_id}/run", 404),
    ("GET", "/scheduler/jobs", 200),
    ("GET", "/metrics", 200),
    ("POST", "/job/{job_id}/retry", 404),
    ("POST", "/jobs/retry", 200),  # as a dry run (see _url): the barrage must not act on the jobs
    ("POST", "/jobs/cancel", 200),
    ("GET", "/bulk-actions", 200),
    ("GET", "/nodes", 200),
    ("GET", "/config/view", 200),
    ("GET", "/topology", 200),
    ("GET", "/system/doctor", 200),
    ("GET", "/system/selfcheck", 200),
    ("POST", "/system/reload", 200),
]
BODY_ROUTES = {"/plugin/{plugin}/{command}", "/schedules/{plugin}/{schedule_id}/pause"}


def _url(gw: GatewayProcess, template: str) -> str:
    path = template.format(name="alpha", plugin="alpha", command="poll", job_id=UNKNOWN_JOB, schedule_id="default")
    if template in ("/jobs/retry", "/jobs/cancel", "/system/reload"):
        path += "?dry_run=true"
    return gw.url + path


def _request(gw: GatewayProcess, method: str, template: str, **kwargs: Any) -> httpx.Response:
    headers = {**AUTH, **kwargs.pop("headers", {})}
    if template == "/events":  # a stream: the status line and headers are the answer
        with httpx.stream(method, _url(gw, template), headers=headers, timeout=10, **kwargs) as response:
            response.close()
            return response
    return httpx.request(method, _url(gw, template), headers=headers, timeout=30, **kwargs)


# (name, raw body, content type, status, what the message must name)
BAD_BODIES: list[tuple[str, bytes, str, int, tuple[str, ...]]] = [
    ("malformed", b'{"payload": {"a": 1,}', "application/json", 400, ("not valid JSON",)),
    ("truncated", b'{"payload": [1, 2', "application/json", 400, ("not valid JSON",)),
    ("not-json", b"payload=1&x=2", "application/json", 400, ("not valid JSON",)),
    ("wrong-type", b'{"payload": {}}', "text/plain", 415, ("Content-Type 'text/plain'", "application/json")),
    ("form-type", b"a=1", "application/x-www-form-urlencoded", 415, ("Content-Type", "application/json")),
    ("multipart", b"--x\r\n\r\n--x--", "multipart/form-data; boundary=x", 415, ("Content-Type",)),
    ("deep-5000", b'{"payload": ' + b"[" * 5000 + b"]" * 5000 + b"}", "application/json", 400, ("5001 levels", "64")),
    ("deep-65", b'{"payload": ' + b"[" * 64 + b"]" * 64 + b"}", "application/json", 400, ("65 levels", "at most 64")),
    ("deep-unclosed", b"{" * 200_000, "application/json", 400, ("200000 levels", "at most 64")),
    ("surrogate-value", b'{"payload": {"a": "x\\ud800y"}}', "application/json", 400, ("invalid Unicode", "'a'")),
    ("surrogate-key", b'{"payload": {"\\udc00": 1}}', "application/json", 400, ("invalid Unicode", "key")),
    ("surrogate-pair-reversed", b'{"payload": "\\udc00\\ud800"}', "application/json", 400, ("invalid Unicode",)),
    ("surrogate-bytes", b'{"payload": "\xed\xa0\x80"}', "application/json", 400, ("invalid Unicode", "UTF-8")),
    ("latin1", b'{"payload": "caf\xe9"}', "application/json", 400, ("invalid Unicode", "UTF-8")),
    ("nan", b'{"payload": NaN}', "application/json", 400, ("NaN",)),
    ("infinity", b'{"payload": [1e999]}', "application/json", 400, ("Infinity",)),
    ("huge-int", b'{"payload": ' + b"9" * 5000 + b"}", "application/json", 400, ("not valid JSON",)),
    ("array", b"[1, 2]", "application/json", 400, ("must be a JSON object",)),
    ("extra-field", b'{"payload": {}, "sql": "1; DROP TABLE jobs"}', "application/json", 400, ("unknown body field",)),
]


@pytest.mark.parametrize(("name", "raw", "ctype", "status", "needles"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
@pytest.mark.parametrize(("method", "template", "clean"), ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
def test_bad_bodies_on_every_route(
    gw: GatewayProcess,
    acknowledged: list[str],
    method: str,
    template: str,
    clean: int,
    name: str,
    raw: bytes,
    ctype: str,
    status: int,
    needles: tuple[str, ...],
) -> None:
    """Routes that take a body refuse it with the exact 4xx naming the problem; routes that take
    none ignore it and answer as they would without it."""
    response = _request(gw, method, template, content=raw, headers={"Content-Type": ctype})
    if template in BODY_ROUTES:
        error(response, status, *needles)
    else:
        assert response.status_code == clean, f"{response.status_code} {response.text[:300]}"


def test_valid_unicode_and_nesting_at_the_limit_are_accepted(gw: GatewayProcess) -> None:
    deep = {"payload": json.loads("[" * 63 + "]" * 63)}  # 64 levels with the outer object
    ok = httpx.post(f"{gw.url}/plugin/alpha/poll", json=deep, headers=AUTH, timeout=10)
    assert ok.status_code == 202, ok.text
    emoji = b'{"payload": {"\\ud83d\\ude00": "\\ud83d\\ude00 caf\xc3\xa9 [ { \\" "}}'
    ok = httpx.post(f"{gw.url}/plugin/alpha/poll", content=emoji, headers=AUTH, timeout=10)
    assert ok.status_code == 202, ok.text
    job = wait_for(lambda: terminal(gw, ok.json()["job_id"]), message="the emoji job to finish")
    assert job["status"] == "succeeded"
    assert job["result"]["result"]["payload"] == {"\U0001f600": '\U0001f600 café [ { " '}


def test_bad_body_on_a_schema_command_and_a_write_command(gw: GatewayProcess) -> None:
    for command in ("store", "handle"):
        raw = b'{"payload": {"count": "\\ud800"}}'
        error(httpx.post(f"{gw.url}/plugin/alpha/{command}", content=raw, headers=AUTH), 400, "invalid Unicode")
        deep = b'{"payload": {"count": ' + b"[" * 100 + b"]" * 100 + b"}}"
        error(httpx.post(f"{gw.url}/plugin/alpha/{command}", content=deep, headers=AUTH), 400, "levels", "64")


# ------------------------------------------------------------------------------------ 20 MB body

TWENTY_MB = 20 * 1024 * 1024


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_twenty_megabyte_body_is_413(gw: GatewayProcess, chunked: bool) -> None:
    blob = b'{"payload": "' + b"x" * TWENTY_MB + b'"}'

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(blob), 1 << 20):
            yield blob[i : i + (1 << 20)]

    content: Any = chunks() if chunked else blob
    response = httpx.post(f"{gw.url}/plugin/alpha/poll", content=content, headers=AUTH, timeout=60)
    error(response, 413, "1048576", "api.max_body_bytes")


@pytest.mark.parametrize(
    ("method", "template", "clean"),
    [r for r in ROUTES if r[1] not in BODY_ROUTES and r[1] != "/events"],
    ids=[f"{m} {p}" for m, p, _ in ROUTES if p not in BODY_ROUTES and p != "/events"],
)
def test_twenty_megabyte_body_on_routes_without_body_is_ignored(
    gw: GatewayProcess, method: str, template: str, clean: int
) -> None:
    """Read and discarded. (`/events` is left out: its answer is an endless stream, so a client
    still uploading a body there is cut off by api.read_timeout instead.)"""
    response = _request(gw, method, template, content=b"x" * TWENTY_MB)
    assert response.status_code == clean, f"{response.status_code} {response.text[:300]}"


# ------------------------------------------------------------------- SQL metacharacters, traversal

SQL = ["' OR '1'='1", '"; DROP TABLE jobs; --', "%", "_", "alpha' --", "1; SELECT * FROM jobs", "\\'", "a%' OR 1=1 --"]


@pytest.mark.parametrize("value", SQL)
@pytest.mark.parametrize("path", ["/jobs", "/job-logs"])
@pytest.mark.parametrize("param", ["plugin", "command", "submitted_by"])
def test_sql_metacharacters_in_filters_match_nothing(gw: GatewayProcess, path: str, param: str, value: str) -> None:
    response = httpx.get(f"{gw.url}{path}", params={param: value}, headers=AUTH, timeout=10)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == 0  # /jobs and /job-logs ({logs, total}, Ductile's shape) both count matches


@pytest.mark.parametrize("value", SQL)
def test_sql_metacharacters_elsewhere_are_exact_4xx(gw: GatewayProcess, value: str) -> None:
    assert httpx.get(f"{gw.url}/job-logs", params={"query": value}, headers=AUTH).status_code == 200
    error(httpx.get(f"{gw.url}/jobs", params={"status": value}, headers=AUTH), 400, "status")
    error(httpx.get(f"{gw.url}/jobs", params={"created_after": value}, headers=AUTH), 400, "created_after")
    error(httpx.get(f"{gw.url}/jobs", params={"cursor": value}, headers=AUTH), 400, "cursor")
    segment = quote(value, safe="")
    error(httpx.get(f"{gw.url}/job/{segment}", headers=AUTH), 404, "no job")
    error(httpx.get(f"{gw.url}/job/{segment}/detail", headers=AUTH), 404, "no job")
    error(httpx.post(f"{gw.url}/job/{segment}/cancel", headers=AUTH), 404, "no job")
    error(httpx.get(f"{gw.url}/plugin/{segment}", headers=AUTH), 404, "plugin not found")
    # invoking an unknown plugin or command is a 400 with Ductile's words (compat row A6)
    error(httpx.post(f"{gw.url}/plugin/{segment}/poll", headers=AUTH), 400, "plugin not found")
    error(httpx.post(f"{gw.url}/plugin/alpha/{segment}", headers=AUTH), 400, "command not supported")
    error(httpx.get(f"{gw.url}/plugin-state", params={"plugin": value}, headers=AUTH), 404, "unknown plugin")
    error(httpx.get(f"{gw.url}/stopwatch/{segment}", headers=AUTH), 404, "plugin not found")
    error(httpx.get(f"{gw.url}/stopwatch/alpha", params={"window": value}, headers=AUTH), 400, "invalid window")


TRAVERSAL = [
    "/plugin/..%2F..%2F..%2Fetc%2Fpasswd",
    "/plugin/..%2f..%2fconfig.yaml",
    "/plugin/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/plugin/..%5C..%5Cconfig.yaml",
    "/plugin/....%2F%2F....%2F%2Fetc%2Fpasswd",
    "/plugin/%2e%2e",
    "/job/..%2F..%2Fdata%2Fductile.db",
    "/job/..%2F..%2Fdata%2Fductile.db/detail",
    "/plugin-state?plugin=..%2F..%2Fetc%2Fpasswd",
    "/plugin/alpha%00/poll",
]


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("raw_path", TRAVERSAL)
def test_path_traversal_is_404_or_405_and_leaks_nothing(gw: GatewayProcess, raw_path: str, method: str) -> None:
    target = raw_path if method == "GET" or raw_path.endswith("/poll") else raw_path + "/poll"
    response = raw_request(gw.port, f"{method} {target} HTTP/1.1\r\nHost: x\r\n{auth_line()}Content-Length: 0\r\n\r\n")
    status = int(response.split(b" ", 2)[1])
    # POST /plugin/<unknown>/<x> is a 400 (Ductile's contract, compat row A6); everything else 404/405
    allowed = (400, 404, 405) if method == "POST" and raw_path.startswith("/plugin/") else (404, 405)
    assert status in allowed, response[:300]
    body = json.loads(response.split(b"\r\n\r\n", 1)[1])
    assert body["error"] and "root:" not in json.dumps(body) and "SQLite" not in json.dumps(body)


def test_post_with_traversal_enqueues_nothing(gw: GatewayProcess) -> None:
    before = httpx.get(f"{gw.url}/jobs", headers=AUTH).json()["total"]
    for target in ("/plugin/..%2Falpha/poll", "/plugin/alpha%2F..%2Falpha/poll", "/plugin/.%2Falpha/poll"):
        response = raw_request(gw.port, f"POST {target} HTTP/1.1\r\nHost: x\r\n{auth_line()}Content-Length: 0\r\n\r\n")
        assert int(response.split(b" ", 2)[1]) == 404, response[:300]
    assert httpx.get(f"{gw.url}/jobs", headers=AUTH).json()["total"] == before


# ------------------------------------------------------------------------------------------ limits

BAD_LIMITS = [
    "-1",
    "0",
    "201",
    "99999999999999999999999",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "abc",
    "1e3",
    "1.5",
    "",
    " ",
    "0x10",
]


@pytest.mark.parametrize("value", BAD_LIMITS)
@pytest.mark.parametrize("path", ["/jobs", "/job-logs"])
def test_bad_limits_are_400_naming_limit(gw: GatewayProcess, path: str, value: str) -> None:
    response = httpx.get(f"{gw.url}{path}", params={"limit": value}, headers=AUTH, timeout=10)
    error(response, 400, "limit", "1..200")


def test_good_limits_still_work(gw: GatewayProcess) -> None:
    for value in ("1", "200", " 7 "):
        assert httpx.get(f"{gw.url}/jobs", params={"limit": value}, headers=AUTH).status_code == 200


def test_acknowledged_jobs_survive(gw: GatewayProcess, acknowledged: list[str]) -> None:
    """Nothing the gateway accepted was lost to the barrage: each job ran and its row is intact."""
    for job_id in acknowledged:
        job = wait_for(lambda job_id=job_id: terminal(gw, job_id), message=f"job {job_id} to finish")
        assert job["status"] == "succeeded"
    assert httpx.get(f"{gw.url}/healthz", timeout=10).status_code == 200
