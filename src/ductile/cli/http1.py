"""Plain HTTP/1.1 over a socket for the CLI's ApiClient: one request per connection.

`http.client` imports `ssl` and the `email` package, which on their own cost more than a
`ductile job list` request on loopback (bench/cli.py). A CLI call sends a request or two to a
gateway, usually on loopback, so for `http://` URLs this small client does it: send the request
with `Connection: close`, read until the server closes, take the body by Content-Length or
chunked encoding. `https://` URLs still go through http.client (api_client.py).
"""

from __future__ import annotations

import socket

# As http.client: no control characters or spaces in the request target (request smuggling).
_FORBIDDEN = frozenset(chr(c) for c in (*range(0x21), 0x7F))


class ProtocolError(Exception):
    """The server's answer is not an HTTP response we can read (the text says why)."""


def request(
    host: str, port: int, method: str, target: str, headers: dict[str, str], body: bytes | None, timeout: float
) -> tuple[int, bytes]:
    """Status and body of one request. OSError (refused, timed out) and ProtocolError propagate."""
    bad = next((c for c in target if c in _FORBIDDEN), None)
    if bad is not None:
        raise ProtocolError(f"URL can't contain control characters. {target!r} (found at least {bad!r})")
    host_header = f"[{host}]" if ":" in host else host
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host_header}" + ("" if port == 80 else f":{port}")]
    lines += ["Accept-Encoding: identity", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    # An ASCII host as bytes: a str would be run through the idna codec (and its imports) first.
    address = host.encode("ascii") if host.isascii() else host
    with socket.create_connection((address, port), timeout=timeout) as sock:
        sock.sendall(head + (body or b""))
        chunks = []
        while data := sock.recv(65536):
            chunks.append(data)
    return parse_response(b"".join(chunks))


def parse_response(raw: bytes) -> tuple[int, bytes]:
    """(status, body) of a complete response as read until the server closed the connection."""
    if not raw:
        raise ProtocolError("Remote end closed connection without response")
    head, sep, rest = raw.partition(b"\r\n\r\n")
    if not sep:
        raise ProtocolError("incomplete response: the headers did not end")
    status_line, *field_lines = head.split(b"\r\n")
    parts = status_line.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not (len(parts[1]) == 3 and parts[1].isdigit()):
        raise ProtocolError(f"bad status line {status_line[:80]!r}")
    fields: dict[bytes, bytes] = {}
    for line in field_lines:
        name, _, value = line.partition(b":")
        fields[name.strip().lower()] = value.strip()
    if fields.get(b"transfer-encoding", b"").lower() == b"chunked":
        return int(parts[1]), _dechunk(rest)
    if b"content-length" in fields:
        length = fields[b"content-length"]
        if not length.isdigit():
            raise ProtocolError(f"bad Content-Length {length[:40]!r}")
        if len(rest) < int(length):
            raise ProtocolError(f"incomplete read: {len(rest)} of {int(length)} bytes")
        return int(parts[1]), rest[: int(length)]
    return int(parts[1]), rest


def _dechunk(data: bytes) -> bytes:
    out = []
    pos = 0
    while True:
        end = data.find(b"\r\n", pos)
        if end < 0:
            raise ProtocolError("incomplete chunked body")
        size_text = data[pos:end].split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise ProtocolError(f"bad chunk size {size_text[:20]!r}") from None
        if size == 0:
            return b"".join(out)
        start = end + 2
        if len(data) < start + size + 2:
            raise ProtocolError("incomplete chunked body")
        out.append(data[start : start + size])
        pos = start + size + 2
