"""The body of `ductile api <endpoint>` (Ductile's `api` noun): one raw request to the gateway's
API, for what no other command covers yet and for agents that would otherwise hand-build curl lines.

The target and token follow the rule every other command follows (`cli/target.py`); the body is
`--body` as given (or stdin with `-`) or a JSON object built from `--field key=value` pairs.
What the server answered is printed (JSON indented, anything else as it came); an answer of 400 or
more exits 1 with its status on stderr. Building the request is pure (`build_request`). No Typer
here: the start-up fast path (fast.py) runs `call` directly, the Typer command (api_cmd.py) too.
"""

from __future__ import annotations

import http
import json
import re
import sys
from dataclasses import dataclass
from typing import Any

from ductile.cli.target import api_url, token_from

_METHOD = re.compile(r"^[A-Z]{1,20}$")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")  # an HTTP token (RFC 9110)
_INT = re.compile(r"^-?[0-9]+$")
STREAMS = ("/events",)  # answered as a stream that never ends: `ductile events` follows it


class RequestError(ValueError):
    """A request that cannot be sent as given; the message names the argument and what is accepted."""


@dataclass(frozen=True)
class Request:
    method: str
    target: str  # path and query, as sent
    headers: dict[str, str]
    body: bytes | None


def field_value(text: str) -> Any:
    """`true`/`false` (any case) → a boolean, an integer → a number, anything else → the string.
    (Ductile's parser also turns `1`/`0`/`t`/`f` into booleans; here they stay what they look like.)"""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if _INT.match(text):
        return int(text)
    return text


def fields_body(fields: list[str]) -> dict[str, Any]:
    """`key=value` pairs as one JSON object; a dotted key nests (`payload.message=hi` →
    `{"payload": {"message": "hi"}}`, the shape `POST /plugin/{p}/{cmd}` takes)."""
    body: dict[str, Any] = {}
    for item in fields:
        key, sep, value = item.partition("=")
        if not sep or not key or any(not part for part in key.split(".")):
            raise RequestError(f"--field: {item!r} is not accepted (accepted: key=value, key.sub=value)")
        where = body
        *parents, last = key.split(".")
        for part in parents:
            nested = where.setdefault(part, {})
            if not isinstance(nested, dict):
                raise RequestError(f"--field: {item!r} puts a key inside {part!r}, which already has a value")
            where = nested
        if isinstance(where.get(last), dict):
            raise RequestError(f"--field: {item!r} gives a value to {last!r}, which already holds keys")
        where[last] = field_value(value)
    return body


def build_request(
    endpoint: str, method: str | None, fields: list[str], headers: list[str], body: str | None, stdin: Any = None
) -> Request:
    path = endpoint if endpoint.startswith("/") else "/" + endpoint
    if path.startswith("//") or "://" in endpoint:
        raise RequestError(f"endpoint: {endpoint!r} is not accepted (accepted: a path such as /jobs?status=failed)")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in path):
        raise RequestError(f"endpoint: {endpoint!r} holds a space or control character (accepted: encoded, e.g. %20)")
    if path.split("?", 1)[0].rstrip("/") in STREAMS:
        raise RequestError(f"endpoint: {path} is an event stream that does not end; follow it with `ductile events`")
    if body is not None and fields:
        raise RequestError("--body and --field both give the body (accepted: one of them)")
    chosen = (method or ("POST" if body is not None or fields else "GET")).upper()
    if not _METHOD.match(chosen):
        raise RequestError(f"--method: {method!r} is not accepted (accepted: GET, POST, PUT, PATCH, DELETE, ...)")
    sent: dict[str, str] = {}
    for line in headers:
        name, sep, value = line.partition(":")
        name, value = name.strip(), value.strip()
        if not sep or not _HEADER_NAME.match(name) or any(c in value for c in "\r\n\0"):
            raise RequestError(f"--header: {line!r} is not accepted (accepted: 'Name: value' on one line)")
        sent[name] = value
    data: bytes | None = None
    if body == "-":
        data = (stdin or sys.stdin).buffer.read()
    elif body is not None:
        data = body.encode()
    elif fields:
        data = json.dumps(fields_body(fields)).encode()
    if data is not None and not any(k.lower() == "content-type" for k in sent):
        sent["Content-Type"] = "application/json"
    return Request(chosen, path, sent, data)


def render(raw: bytes) -> str | None:
    """What to print of an answer: indented JSON, else the text as it came; None when empty."""
    if not raw:
        return None
    try:
        return json.dumps(json.loads(raw), indent=2, ensure_ascii=False)
    except ValueError:
        return raw.decode("utf-8", "replace")


def call(values: dict[str, Any]) -> int:
    """Send the request `values` describe (the api command's parameters by name), print the answer;
    the exit code. Problems go to stderr in one line."""
    from ductile.cli import http1
    from ductile.cli.api_client import ApiClient, ApiClientError

    try:
        request = build_request(
            values["endpoint"], values.get("method"), values.get("field") or [], values.get("header") or [], values.get("body")
        )
    except RequestError as exc:
        return _fail(str(exc))
    base = api_url(values.get("api_url"), values.get("config"))
    try:
        with ApiClient(base, token_from(values.get("api_key"), values.get("token")), timeout=30.0) as client:
            status, raw = client.exchange_raw(request.method, request.target, request.headers, request.body)
    except ApiClientError as exc:
        return _fail(str(exc))
    except (OSError, http1.ProtocolError) as exc:
        return _fail(f"cannot reach the ductile API at {base}: {exc}")
    shown = render(raw)
    if shown is not None:
        sys.stdout.write(shown + "\n")
        sys.stdout.flush()
    if status >= 400:
        try:
            phrase = http.HTTPStatus(status).phrase
        except ValueError:
            phrase = ""
        return _fail(f"Response Status: {status} {phrase}".rstrip())
    return 0


def _fail(message: str) -> int:
    sys.stderr.write(message + "\n")
    return 1
