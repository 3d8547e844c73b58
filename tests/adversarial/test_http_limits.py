"""HTTP limits against a real gateway (issue 7, finding 10): long URLs, many or huge headers,
malformed HTTP, idle connections, slow headers and bodies (slowloris), and the connection cap.
Each answer is exact JSON naming the `api.*` key to change.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import httpx
import pytest
from conftest import wait_for

from adversarial import hostile
from adversarial.hostile import (
    AUTH,
    GatewayProcess,
    assert_all_json,
    auth_line,
    raw_request,
    read_response,
    start_hostile,
    status_and_error,
)

gw = hostile.gw  # module-scoped fixture: one gateway for this module


@pytest.mark.parametrize("size", [2049, 100_000, 1_000_000])
def test_long_urls_are_414(gw: GatewayProcess, size: int) -> None:
    target = "/jobs?plugin=" + "a" * size
    status, error = status_and_error(raw_request(gw.port, f"GET {target} HTTP/1.1\r\nHost: x\r\n{auth_line()}\r\n"))
    assert status == 414 and "api.max_url_bytes" in error and "2048" in error


def test_url_at_the_limit_is_served(gw: GatewayProcess) -> None:
    target = "/jobs?plugin=" + "a" * 150
    response = raw_request(gw.port, f"GET {target} HTTP/1.1\r\nHost: x\r\n{auth_line()}\r\n")
    assert response.startswith(b"HTTP/1.1 200"), response[:300]


@pytest.mark.parametrize("count", [51, 10_000])
def test_many_headers_are_431(gw: GatewayProcess, count: int) -> None:
    headers = "".join(f"X-H{i}: v\r\n" for i in range(count))
    request = f"GET /healthz HTTP/1.1\r\nHost: x\r\n{headers}\r\n"
    status, error = status_and_error(raw_request(gw.port, request))
    assert status == 431 and "api.max_header_count" in error and "50" in error


@pytest.mark.parametrize("size", [9000, 5_000_000])
def test_huge_headers_are_431(gw: GatewayProcess, size: int) -> None:
    request = f"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {'b' * size}\r\n\r\n"
    status, error = status_and_error(raw_request(gw.port, request))
    assert status == 431 and "api.max_header" in error


def test_malformed_http_is_400_json(gw: GatewayProcess) -> None:
    status, error = status_and_error(raw_request(gw.port, b"GARBAGE\x00\x01 / HTTP/9\r\n\r\n"))
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
        assert read_response(sock).startswith(b"HTTP/1.1 200")
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
    status, error = status_and_error(response)
    assert status == 408 and "api.read_timeout" in error


def test_trickled_body_gets_408_and_enqueues_nothing(gw: GatewayProcess) -> None:
    assert gw.port is not None
    before = httpx.get(f"{gw.url}/jobs", headers=AUTH).json()["total"]
    with socket.create_connection(("127.0.0.1", gw.port), timeout=20) as sock:
        sock.sendall(
            f"POST /plugin/alpha/poll HTTP/1.1\r\nHost: x\r\n{auth_line()}Content-Type: application/json\r\n"
            'Content-Length: 100\r\n\r\n{"payload": '.encode()
        )
        response = read_response(sock)
    status, error = status_and_error(response)
    assert status == 408 and "api.read_timeout" in error
    assert httpx.get(f"{gw.url}/jobs", headers=AUTH).json()["total"] == before


# --------------------------------------------------------------------------------- connection cap


def test_connections_past_the_cap_get_503(tmp_path: Path) -> None:
    gw = start_hostile(tmp_path, {"max_connections": 3, "idle_timeout": "30s"})
    assert gw.port is not None
    try:
        held = [socket.create_connection(("127.0.0.1", gw.port), timeout=20) for _ in range(3)]
        try:
            extra = raw_request(gw.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            status, error = status_and_error(extra)
            assert status == 503 and "api.max_connections" in error
            held[0].sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_response(held[0]).startswith(b"HTTP/1.1 200")
        finally:
            for sock in held:
                sock.close()
        # the cap counts open connections: once they are gone, a new one is served
        wait_for(lambda: httpx.get(f"{gw.url}/healthz", timeout=5).status_code == 200, message="a free connection slot")
    finally:
        assert gw.stop() == 0
    assert_all_json(gw)
