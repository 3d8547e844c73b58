"""`ductile api <endpoint>`: one raw request to the gateway's API, as Ductile's `api` noun does —
for what no other command covers yet, and for agents that would otherwise hand-build curl lines.

The target and token follow the rule every other command follows (`cli/target.py`); the body is
`--body` as given (or stdin with `-`) or a JSON object built from `--field key=value` pairs.
What the server answered is printed (JSON indented, anything else as it came); an answer of 400 or
more exits 1 with its status on stderr. The request building is pure (`build_request`), so its
rules are tested without a server.
"""

from __future__ import annotations

import http
import json
import re
import sys
from dataclasses import dataclass
from typing import Annotated, Any

import typer

from ductile.cli.common import ConfigOption, TokenOption, fail
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


def register(app: typer.Typer) -> None:
    app.command("api")(api)


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


def api(
    endpoint: Annotated[str, typer.Argument(help="API path, e.g. /jobs?status=failed or /plugin/echo/poll.")],
    method: Annotated[
        str | None, typer.Option("--method", "-X", help="HTTP method (default GET; POST with --body/--field).")
    ] = None,
    field: Annotated[
        list[str] | None,
        typer.Option("--field", "-f", help="key=value into a JSON object body; key.sub=value nests. Repeatable."),
    ] = None,
    header: Annotated[list[str] | None, typer.Option("--header", "-H", help="'Name: value'. Repeatable.")] = None,
    body: Annotated[str | None, typer.Option("--body", "-b", help="Raw request body, or - for stdin.")] = None,
    url: Annotated[
        str | None, typer.Option("--api-url", envvar="DUCTILE_API_URL", help="Gateway API base URL.", show_default=False)
    ] = None,
    api_key: Annotated[str | None, typer.Option("--api-key", help="Bearer token (Ductile's flag).")] = None,
    token: TokenOption = None,
    config: ConfigOption = None,
) -> None:
    """Send one request to the gateway's API and print the answer (Ductile's `api` noun)."""
    from ductile.cli import http1
    from ductile.cli.api_client import ApiClient, ApiClientError

    try:
        request = build_request(endpoint, method, field or [], header or [], body)
    except RequestError as exc:
        fail(str(exc))
    base = api_url(url, config)
    try:
        client = ApiClient(base, token_from(api_key, token), timeout=30.0)
        with client:
            status, raw = client.exchange_raw(request.method, request.target, request.headers, request.body)
    except ApiClientError as exc:
        fail(str(exc))
    except (OSError, http1.ProtocolError) as exc:
        fail(f"cannot reach the ductile API at {base}: {exc}")
    shown = render(raw)
    if shown is not None:
        typer.echo(shown)
    if status >= 400:
        try:
            phrase = http.HTTPStatus(status).phrase
        except ValueError:
            phrase = ""
        fail(f"Response Status: {status} {phrase}".rstrip())
