"""The CLI's plain-HTTP transport (ductile.cli.http1): responses read by Content-Length, chunked or
to the close, and a clear "cannot reach" for a peer that is not an HTTP server."""

from __future__ import annotations

import socket
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ductile.cli import http1
from ductile.cli.api_client import ApiClient, ApiClientError


def test_content_length_body_is_cut_at_the_length() -> None:
    raw = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\ncontent-length: 2\r\n\r\n{}trailing"
    assert http1.parse_response(raw) == (200, b"{}")


@given(body=st.binary(max_size=300), cuts=st.lists(st.integers(1, 50), max_size=8))
def test_chunked_bodies_are_joined(body: bytes, cuts: list[int]) -> None:
    chunks, rest = [], body
    for n in cuts:
        chunks.append(rest[:n])
        rest = rest[n:]
    chunks.append(rest)
    wire = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(c), c) for c in chunks if c) + b"0\r\n\r\n"
    raw = b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n" + wire
    assert http1.parse_response(raw) == (404, body)


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b"", "Remote end closed connection without response"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", "headers did not end"),
        (b"SSH-2.0-OpenSSH\r\n\r\n", "bad status line"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "incomplete read: 5 of 10"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", "bad Content-Length"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", "incomplete chunked body"),
    ],
)
def test_what_is_not_a_response_says_why(raw: bytes, says: str) -> None:
    with pytest.raises(http1.ProtocolError, match=says):
        http1.parse_response(raw)


def test_a_peer_that_closes_without_answering_cannot_be_reached() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]

        def hang_up() -> None:
            conn, _ = server.accept()
            conn.recv(4096)
            conn.close()

        thread = threading.Thread(target=hang_up)
        thread.start()
        client = ApiClient(f"http://127.0.0.1:{port}", "t")
        with pytest.raises(
            ApiClientError, match=r"cannot reach the ductile API at http://127\.0\.0\.1:.*without response"
        ):
            client.get("/jobs")
        thread.join(10)


def test_control_characters_in_the_target_are_refused_before_sending() -> None:
    client = ApiClient("http://127.0.0.1:9", None)
    with pytest.raises(ApiClientError, match="URL can't contain control characters"):
        client.get("/job/a b")


@pytest.mark.parametrize("url", ["ftp://x", "http://", "http://h:abc", "localhost:8080"])
def test_invalid_urls_say_what_is_accepted(url: str) -> None:
    with pytest.raises(ApiClientError, match="accepted: http://host:port"):
        ApiClient(url, None)
