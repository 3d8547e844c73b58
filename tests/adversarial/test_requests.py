"""Hostile requests against a real gateway over loopback (issue 7, findings 2, 6, 9, 10).

Every route gets malformed JSON, a wrong Content-Type, a 20 MB body, deep nesting and lone
surrogates; filters and path parameters get SQL metacharacters and path traversal; limits get
huge, negative, NaN and non-numeric values; the server gets long URLs, thousands of headers, idle
and trickling connections. Each answer is an exact 4xx whose body names the problem — never a
500 — and the jobs acknowledged before the barrage are all still there afterwards. Every line the
gateway wrote meanwhile (`log_format: json`) must parse as one JSON object.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from conftest import ADMIN_TOKEN, DUCTILE, GatewayProcess, base_config, free_port, make_plugin, wait_for, write_config

ECHO = """\
#!/usr/bin/env python3
import json, sys
req = json.load(sys.stdin)
print(json.dumps({"status": "ok", "result": {"command": req["command"], "payload": req.get("payload")}}))
"""

COMMANDS = [
    {"name": "poll", "type": "read"},
    {"name": "handle", "type": "write"},
    {
        "name": "store",
        "type": "write",
        "input_schema": {"type": "object", "properties": {"count": {"type": "integer"}}, "required": ["count"]},
    },
]

LIMITS = {
    "idle_timeout": "1s",
    "read_timeout": "5s",  # short for the slow-client tests, long enough for a 20 MB upload under load
    "max_header_count": 50,
    "max_header_bytes": 8192,
    "max_url_bytes": 2048,
}

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
UNKNOWN_JOB = "00000000-0000-0000-0000-000000000000"


def _start(root: Path, api_extra: dict[str, Any] | None = None) -> GatewayProcess:
    plugin_root = root / "plugins"
    make_plugin(plugin_root, "alpha", ECHO, commands=COMMANDS)
    port = free_port()
    config = base_config([plugin_root], {"alpha": {}}, port=port)
    config["api"].update(LIMITS | (api_extra or {}))
    write_config(root / "gw", config)
    return GatewayProcess(root / "gw", port=port).start()


def _assert_all_json(gw: GatewayProcess) -> None:
    lines = [line for line in gw.log().splitlines() if line.strip()]
    assert lines, "the gateway wrote nothing"
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise AssertionError(f"log line is not JSON: {line[:300]!r}")
        assert isinstance(record, dict) and {"ts", "level", "msg"} <= set(record), line[:300]


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    # Every warning any library raises is shown, so each one must reach the log as JSON too.
    saved = os.environ.get("PYTHONWARNINGS")
    os.environ["PYTHONWARNINGS"] = "always"
    try:
        gateway = _start(tmp_path_factory.mktemp("hostile"))
    finally:
        if saved is None:
            del os.environ["PYTHONWARNINGS"]
        else:
            os.environ["PYTHONWARNINGS"] = saved
    yield gateway
    assert gateway.stop() == 0
    _assert_all_json(gateway)  # finding 9: the whole barrage left only JSON lines


@pytest.fixture(scope="module")
def acknowledged(gw: GatewayProcess) -> list[str]:
    """Jobs accepted before the barrage; `test_acknowledged_jobs_survive` checks each still exists."""
    ids = []
    for i in range(3):
        response = httpx.post(f"{gw.url}/plugin/alpha/poll", json={"payload": {"i": i}}, headers=AUTH, timeout=10)
        assert response.status_code == 202
        ids.append(response.json()["job_id"])
    return ids


def _error(response: httpx.Response, status: int, *needles: str) -> str:
    assert response.status_code == status, f"{response.status_code} {response.text[:300]}"
    assert response.headers["content-type"].startswith("application/json")
    message = response.json()["error"]
    for needle in needles:
        assert needle in message, message
    return message


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
    ("POST", "/job/{job_id}/cancel", 404),
    ("GET", "/job-logs", 200),
    ("GET", "/schedules", 200),
    ("GET", "/events", 200),
]
BODY_ROUTES = {"/plugin/{plugin}/{command}"}


def _url(gw: GatewayProcess, template: str) -> str:
    path = template.format(name="alpha", plugin="alpha", command="poll", job_id=UNKNOWN_JOB)
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
        _error(response, status, *needles)
    else:
        assert response.status_code == clean, f"{response.status_code} {response.text[:300]}"


def test_valid_unicode_and_nesting_at_the_limit_are_accepted(gw: GatewayProcess) -> None:
    deep = {"payload": json.loads("[" * 63 + "]" * 63)}  # 64 levels with the outer object
    ok = httpx.post(f"{gw.url}/plugin/alpha/poll", json=deep, headers=AUTH, timeout=10)
    assert ok.status_code == 202, ok.text
    emoji = b'{"payload": {"\\ud83d\\ude00": "\\ud83d\\ude00 caf\xc3\xa9 [ { \\" "}}'
    ok = httpx.post(f"{gw.url}/plugin/alpha/poll", content=emoji, headers=AUTH, timeout=10)
    assert ok.status_code == 202, ok.text
    job = wait_for(lambda: _terminal(gw, ok.json()["job_id"]), message="the emoji job to finish")
    assert job["status"] == "succeeded"
    assert job["result"]["result"]["payload"] == {"\U0001f600": '\U0001f600 café [ { " '}


def _terminal(gw: GatewayProcess, job_id: str) -> dict[str, Any] | None:
    body = httpx.get(f"{gw.url}/job/{job_id}", headers=AUTH, timeout=10).json()
    return body if body["status"] in ("succeeded", "failed", "dead", "timed_out") else None


def test_bad_body_on_a_schema_command_and_a_write_command(gw: GatewayProcess) -> None:
    for command in ("store", "handle"):
        raw = b'{"payload": {"count": "\\ud800"}}'
        _error(httpx.post(f"{gw.url}/plugin/alpha/{command}", content=raw, headers=AUTH), 400, "invalid Unicode")
        deep = b'{"payload": {"count": ' + b"[" * 100 + b"]" * 100 + b"}}"
        _error(httpx.post(f"{gw.url}/plugin/alpha/{command}", content=deep, headers=AUTH), 400, "levels", "64")


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
    _error(response, 413, "1048576", "api.max_body_bytes")


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
    assert (body["total"] if path == "/jobs" else body["count"]) == 0


@pytest.mark.parametrize("value", SQL)
def test_sql_metacharacters_elsewhere_are_exact_4xx(gw: GatewayProcess, value: str) -> None:
    assert httpx.get(f"{gw.url}/job-logs", params={"query": value}, headers=AUTH).status_code == 200
    _error(httpx.get(f"{gw.url}/jobs", params={"status": value}, headers=AUTH), 400, "status")
    _error(httpx.get(f"{gw.url}/jobs", params={"created_after": value}, headers=AUTH), 400, "created_after")
    _error(httpx.get(f"{gw.url}/jobs", params={"cursor": value}, headers=AUTH), 400, "cursor")
    segment = quote(value, safe="")
    _error(httpx.get(f"{gw.url}/job/{segment}", headers=AUTH), 404, "no job")
    _error(httpx.get(f"{gw.url}/job/{segment}/detail", headers=AUTH), 404, "no job")
    _error(httpx.post(f"{gw.url}/job/{segment}/cancel", headers=AUTH), 404, "no job")
    _error(httpx.get(f"{gw.url}/plugin/{segment}", headers=AUTH), 404, "unknown plugin")
    _error(httpx.post(f"{gw.url}/plugin/{segment}/poll", headers=AUTH), 404, "unknown plugin")
    _error(httpx.post(f"{gw.url}/plugin/alpha/{segment}", headers=AUTH), 404, "no command")
    _error(httpx.get(f"{gw.url}/plugin-state", params={"plugin": value}, headers=AUTH), 404, "unknown plugin")


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
    response = _raw_request(
        gw.port, f"{method} {target} HTTP/1.1\r\nHost: x\r\n{_auth_line()}Content-Length: 0\r\n\r\n"
    )
    status = int(response.split(b" ", 2)[1])
    assert status in (404, 405), response[:300]
    body = json.loads(response.split(b"\r\n\r\n", 1)[1])
    assert body["error"] and "root:" not in json.dumps(body) and "SQLite" not in json.dumps(body)


def test_post_with_traversal_enqueues_nothing(gw: GatewayProcess) -> None:
    before = httpx.get(f"{gw.url}/jobs", headers=AUTH).json()["total"]
    for target in ("/plugin/..%2Falpha/poll", "/plugin/alpha%2F..%2Falpha/poll", "/plugin/.%2Falpha/poll"):
        response = _raw_request(
            gw.port, f"POST {target} HTTP/1.1\r\nHost: x\r\n{_auth_line()}Content-Length: 0\r\n\r\n"
        )
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
    _error(response, 400, "limit", "1..200")


def test_good_limits_still_work(gw: GatewayProcess) -> None:
    for value in ("1", "200", " 7 "):
        assert httpx.get(f"{gw.url}/jobs", params={"limit": value}, headers=AUTH).status_code == 200


# -------------------------------------------------------------------------- URL and header limits


def _auth_line() -> str:
    return f"Authorization: Bearer {ADMIN_TOKEN}\r\n"


def _raw_request(port: int | None, request: str | bytes, *, timeout: float = 15.0) -> bytes:
    """Send `request` on a fresh connection and read until the server closes or a full response."""
    assert port is not None
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(request.encode() if isinstance(request, str) else request)
        except OSError as exc:
            raise AssertionError(f"the server reset the connection instead of answering: {exc}")
        return _read_response(sock)


def _read_response(sock: socket.socket) -> bytes:
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
        head, sep, body = data.partition(b"\r\n\r\n")
        if sep:
            length = [
                int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
            ]
            if length and len(body) >= length[0]:
                return data


def _status_and_error(response: bytes) -> tuple[int, str]:
    head, _, body = response.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head.lower(), response[:300]
    return int(head.split(b" ", 2)[1]), json.loads(body)["error"]


@pytest.mark.parametrize("size", [2049, 100_000, 1_000_000])
def test_long_urls_are_414(gw: GatewayProcess, size: int) -> None:
    target = "/jobs?plugin=" + "a" * size
    status, error = _status_and_error(_raw_request(gw.port, f"GET {target} HTTP/1.1\r\nHost: x\r\n{_auth_line()}\r\n"))
    assert status == 414 and "api.max_url_bytes" in error and "2048" in error


def test_url_at_the_limit_is_served(gw: GatewayProcess) -> None:
    target = "/jobs?plugin=" + "a" * 150
    response = _raw_request(gw.port, f"GET {target} HTTP/1.1\r\nHost: x\r\n{_auth_line()}\r\n")
    assert response.startswith(b"HTTP/1.1 200"), response[:300]


@pytest.mark.parametrize("count", [51, 10_000])
def test_many_headers_are_431(gw: GatewayProcess, count: int) -> None:
    headers = "".join(f"X-H{i}: v\r\n" for i in range(count))
    request = f"GET /healthz HTTP/1.1\r\nHost: x\r\n{headers}\r\n"
    status, error = _status_and_error(_raw_request(gw.port, request))
    assert status == 431 and "api.max_header_count" in error and "50" in error


@pytest.mark.parametrize("size", [9000, 5_000_000])
def test_huge_headers_are_431(gw: GatewayProcess, size: int) -> None:
    request = f"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {'b' * size}\r\n\r\n"
    status, error = _status_and_error(_raw_request(gw.port, request))
    assert status == 431 and "api.max_header" in error


def test_malformed_http_is_400_json(gw: GatewayProcess) -> None:
    status, error = _status_and_error(_raw_request(gw.port, b"GARBAGE\x00\x01 / HTTP/9\r\n\r\n"))
    assert status == 400 and "invalid HTTP request" in error


# --------------------------------------------------------------------------- idle and slow clients


def test_idle_connection_is_closed(gw: GatewayProcess) -> None:
    """A connection that never sends a byte is closed (api.idle_timeout = 1s in this config)."""
    assert gw.port is not None
    with socket.create_connection(("127.0.0.1", gw.port), timeout=20) as sock:
        assert sock.recv(1024) == b""  # closed by the server, not by our 20 s socket timeout


def test_kept_alive_connection_is_closed_when_idle(gw: GatewayProcess) -> None:
    assert gw.port is not None
    with socket.create_connection(("127.0.0.1", gw.port), timeout=20) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _read_response(sock).startswith(b"HTTP/1.1 200")
        assert sock.recv(1024) == b""


def test_trickled_headers_get_408(gw: GatewayProcess) -> None:
    """Slowloris: a byte of header now and then never completes the head (api.read_timeout = 5s)."""
    assert gw.port is not None
    with socket.create_connection(("127.0.0.1", gw.port), timeout=20) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        sock.settimeout(0.3)
        response = b""
        deadline = time.monotonic() + 30  # the server answers after 5 s
        while time.monotonic() < deadline and b"\r\n\r\n" not in response:
            try:
                sock.sendall(b"a")
            except OSError:
                pass
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            response += chunk
            if not chunk:
                break
    status, error = _status_and_error(response)
    assert status == 408 and "api.read_timeout" in error


def test_trickled_body_gets_408_and_enqueues_nothing(gw: GatewayProcess) -> None:
    assert gw.port is not None
    before = httpx.get(f"{gw.url}/jobs", headers=AUTH).json()["total"]
    with socket.create_connection(("127.0.0.1", gw.port), timeout=20) as sock:
        sock.sendall(
            f"POST /plugin/alpha/poll HTTP/1.1\r\nHost: x\r\n{_auth_line()}Content-Type: application/json\r\n"
            'Content-Length: 100\r\n\r\n{"payload": '.encode()
        )
        response = _read_response(sock)
    status, error = _status_and_error(response)
    assert status == 408 and "api.read_timeout" in error
    assert httpx.get(f"{gw.url}/jobs", headers=AUTH).json()["total"] == before


def test_acknowledged_jobs_survive(gw: GatewayProcess, acknowledged: list[str]) -> None:
    """Nothing the gateway accepted was lost to the barrage: each job ran and its row is intact."""
    for job_id in acknowledged:
        job = wait_for(lambda job_id=job_id: _terminal(gw, job_id), message=f"job {job_id} to finish")
        assert job["status"] == "succeeded"
    assert httpx.get(f"{gw.url}/healthz", timeout=10).status_code == 200


# --------------------------------------------------------------------------------- connection cap


def test_connections_past_the_cap_get_503(tmp_path: Path) -> None:
    gw = _start(tmp_path, {"max_connections": 3, "idle_timeout": "30s"})
    assert gw.port is not None
    try:
        held = [socket.create_connection(("127.0.0.1", gw.port), timeout=20) for _ in range(3)]
        try:
            extra = _raw_request(gw.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            status, error = _status_and_error(extra)
            assert status == 503 and "api.max_connections" in error
            held[0].sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert _read_response(held[0]).startswith(b"HTTP/1.1 200")
        finally:
            for sock in held:
                sock.close()
        # the cap counts open connections: once they are gone, a new one is served
        wait_for(lambda: httpx.get(f"{gw.url}/healthz", timeout=5).status_code == 200, message="a free connection slot")
    finally:
        assert gw.stop() == 0
    _assert_all_json(gw)


# ----------------------------------------------------------------------------------- port taken

MARKER = """\
#!/usr/bin/env python3
import json, os, sys
json.load(sys.stdin)
open(os.environ["MARKER_FILE"], "a").write("ran\\n")
print(json.dumps({"status": "ok", "result": {}}))
"""


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_port_taken_is_one_line_nonzero_and_no_job_runs(
    tmp_path: Path, log_format: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "marker"
    monkeypatch.setenv("MARKER_FILE", str(marker))
    plugin_root = tmp_path / "plugins"
    make_plugin(plugin_root, "stamp", MARKER)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        config = base_config(
            [plugin_root],
            {"stamp": {"schedules": [{"id": "now", "every": "1s"}]}},
            port=port,
            service={"log_format": log_format, "plugin_env_passthrough": ["MARKER_FILE"]},
        )
        directory = tmp_path / "gw"
        write_config(directory, config)
        proc = subprocess.run(
            [DUCTILE, "system", "start", "--config", str(directory)], capture_output=True, timeout=60, text=True
        )
    assert proc.returncode == 1, proc.stderr
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    line = lines[0]
    assert f"127.0.0.1:{port}" in line and "api.listen" in line and "already in use" in line
    assert str(directory / "config.yaml") in line
    if log_format == "json":
        record = json.loads(line)
        assert record["level"] == "error" and record["config_key"] == "api.listen"
    assert "Task exception was never retrieved" not in proc.stderr
    time.sleep(1.5)  # a job spawned just before exit would still be writing: give it time to show
    assert not marker.exists(), "a plugin ran although the gateway could not listen"
    db = directory / "data" / "ductile.db"
    if db.exists():
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT count(*) FROM jobs").fetchone()[0] == 0
