"""JSON in and out of the API: the one rule every request body goes through, and a fast response.

Request bodies are judged here and nowhere else, so every route that takes a body refuses the
same inputs with the same 4xx message: too large (413), not JSON by its Content-Type (415), not
UTF-8, not JSON, nested deeper than `MAX_DEPTH`, or holding a lone surrogate escape (`"\\ud800"`)
that no UTF-8 store or plugin could take (400).

Depth is measured on the raw text *before* `json.loads`, without recursion, because the stdlib
decoder (and everything after it: schema validation, storage, the plugin) recurses once per
level; a body 5,000 levels deep would otherwise surface as a RecursionError and a 500.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from itertools import accumulate
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

MAX_DEPTH = 64
"""Arrays/objects one inside another, counting the body's outer `{}`. Documented in API_REFERENCE."""

ACCEPTED_TYPES = "application/json (or any */*+json type, or no Content-Type)"
# `curl -d` labels a body form-urlencoded unless told otherwise, and Ductile never looks at the
# type: a JSON body under that label is taken as JSON, so client scripts written for Ductile work.
FORM_TYPE = "application/x-www-form-urlencoded"

# A JSON string literal (unrolled so the regex engine never backtracks per character).
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_DELTAS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")


class BodyProblem(Exception):
    """A request body the client must fix; `message` is the whole error body."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def nesting_depth(text: str) -> int:
    """Deepest array/object nesting in JSON text, ignoring brackets inside strings.

    Runs in C-speed passes (regex, translate, accumulate) so a megabyte of `[` costs milliseconds."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    if not brackets:
        return 0
    deltas = memoryview(brackets.encode("ascii").translate(_DELTAS)).cast("b")
    return max(accumulate(deltas))


def _paths(value: Any) -> Iterator[tuple[str, str]]:
    """(where, text) for every key and string in `value`, iteratively (depth is already bounded)."""
    stack: list[tuple[str, Any]] = [("body", value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            yield where, item
        elif isinstance(item, dict):
            for key, sub in item.items():
                yield f"{where} key {key[:40]!a}", key
                stack.append((f"{where}[{key[:40]!a}]", sub))
        elif isinstance(item, list):
            stack.extend((f"{where}[{i}]", sub) for i, sub in enumerate(item))


def _first_surrogate(value: Any) -> str:
    for where, text in _paths(value):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return where
    return "body"


def json_media_type(content_type: str | None) -> bool:
    if not content_type:
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    return media in ("application/json", "text/json") or media.endswith("+json")


def _json_under_form_type(raw: bytes, content_type: str | None) -> bool:
    """A form-urlencoded label on a body that is a JSON object or array (what `curl -d '{...}'` sends)."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == FORM_TYPE and raw.lstrip()[:1] in (b"{", b"[")


def decode(raw: bytes, content_type: str | None = None, *, max_depth: int = MAX_DEPTH) -> Any:
    """The JSON value of a request body; `None` for an empty one. Raises BodyProblem."""
    if not raw.strip():
        return None
    if not json_media_type(content_type) and not _json_under_form_type(raw, content_type):
        raise BodyProblem(415, f"Content-Type {content_type[:80]!r} is not accepted (accepted: {ACCEPTED_TYPES})")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyProblem(
            400, f"body is not valid JSON: invalid Unicode, not UTF-8 at byte {exc.start} (accepted: UTF-8 JSON)"
        )
    depth = nesting_depth(text)
    if depth > max_depth:
        raise BodyProblem(
            400, f"body is nested {depth} levels deep (accepted: at most {max_depth} levels of arrays/objects)"
        )
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise BodyProblem(400, f'body is not valid JSON ({exc}) (accepted: a JSON value, e.g. {{"payload": {{}}}})')
    try:
        # One C-speed pass finds whether any string or key holds a lone surrogate; the walk only names it.
        json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except UnicodeEncodeError:
        raise BodyProblem(
            400,
            f"invalid Unicode in {_first_surrogate(value)}: a lone surrogate escape such as \\ud800 "
            "(accepted: valid Unicode; a surrogate escape must be a high+low pair)",
        )
    except ValueError:  # NaN/Infinity: json.loads accepts them, JSON does not
        raise BodyProblem(400, "body holds NaN or Infinity (accepted: finite JSON numbers)")
    return value


async def read(request: Request, limit: int) -> bytes:
    """The raw body, refused with 413 as soon as it is known to exceed `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyProblem(
            413, f"request body is {declared} bytes (accepted: at most {limit} bytes, api.max_body_bytes)"
        )
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise BodyProblem(
                    413, f"request body exceeds {limit} bytes (accepted: at most {limit} bytes, api.max_body_bytes)"
                )
            chunks.append(chunk)
    except ClientDisconnect:
        # The client hung up (or the read timeout closed it): nobody will read this answer.
        raise BodyProblem(400, "request body incomplete: the connection closed before it arrived")
    return b"".join(chunks)


async def read_json(request: Request, limit: int) -> Any:
    """`read` + `decode`: the single entry point for routes that take a JSON body."""
    return decode(await read(request, limit), request.headers.get("content-type"))


class FastJSONResponse(Response):
    """JSON rendered by orjson, for large pages where encoding is a real share of the request.

    Replaces FastAPI's ORJSONResponse, which is deprecated (and warns) in FastAPI >= 0.16x."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)
