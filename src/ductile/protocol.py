"""Plugin protocol v2: what goes to a plugin on stdin and how its stdout is judged.

Pure encode/decode. Spawning, pipes and timeouts live in `executor.py`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

import orjson

PROTOCOL_VERSION = 2
STDOUT_LIMIT = 10 * 1024 * 1024
STDERR_LIMIT = 64 * 1024
EXIT_CONFIG = 78
# Arrays/objects nested deeper than this in a response are refused. Far beyond any real result,
# and far below Python's recursion limit, so decoding and re-encoding can never overflow it.
MAX_DEPTH = 64
LOG_LEVELS = ("debug", "info", "warn", "error")
_QUOTE_BYTES = 120


@dataclass(frozen=True)
class Response:
    """A plugin response that obeyed the rules."""

    status: str  # "ok" | "error"
    result: Any = None
    error: str | None = None
    retry: bool = True
    events: list[dict[str, Any]] = field(default_factory=list)
    state_updates: dict[str, Any] | None = None
    logs: list[dict[str, str]] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)


class ProtocolViolation(ValueError):
    """Stdout that is not one valid response object; the message quotes what arrived."""


def build_request(
    *,
    job_id: str,
    command: str,
    config: dict[str, Any],
    state: dict[str, Any],
    payload: Any,
    context: dict[str, Any],
    instance: str,
    workspace_dir: str,
    deadline_at: str,
    event: dict[str, Any] | None = None,
) -> bytes:
    request: dict[str, Any] = {
        "protocol": PROTOCOL_VERSION,
        "job_id": job_id,
        "command": command,
        "config": config or {},
        "state": state or {},
        "context": context,
        "instance": instance,
        "workspace_dir": workspace_dir,
        "deadline_at": deadline_at,
    }
    if payload not in (None, {}, [], ""):
        request["payload"] = payload
    if event is not None:
        request["event"] = event
    return _ENCODER.encode(request).encode() + b"\n"


# One encoder for every request: `json.dumps` with `separators` builds a new JSONEncoder per call.
# (`json` rather than orjson here: orjson writes NaN/Infinity in a config as null, json as the
# literals the request always carried.)
_ENCODER = json.JSONEncoder(separators=(",", ":"))


def quote(data: bytes, limit: int = _QUOTE_BYTES) -> str:
    text = data[:limit].decode("utf-8", errors="replace")
    return repr(text) + ("…" if len(data) > limit else "")


_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_DEPTH_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def nesting_depth(text: str) -> int:
    """How deep arrays/objects nest in JSON text, without recursing (brackets inside strings
    don't count). Counts on malformed text too: it runs before the decoder, which recurses.
    Exact above MAX_DEPTH; at or below it, possibly just the number of openers (an upper bound)."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:  # the common small response: no scan needed
        return text.count("[") + text.count("{")
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(map(_DEPTH_STEP.__getitem__, brackets)), default=0)


def lone_surrogate(value: Any) -> str | None:
    """Where a decoded JSON value holds a string (or key) with an unpaired UTF-16 surrogate such
    as "\\ud800": no UTF-8 encoding exists for it, so it could not be stored or shown. Iterative."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return _short(path) or "the response"
        elif isinstance(item, dict):
            for key, child in item.items():
                where = f"{path}.{key}" if path else str(key)
                if _SURROGATE.search(key):
                    return f"a key in {_short(path) or 'the response'}"
                stack.append((where, child))
        elif isinstance(item, list):
            stack.extend((f"{path}[{i}]", child) for i, child in enumerate(item))
    return None


def _short(path: str, limit: int = 120) -> str:
    return path if len(path) <= limit else path[:limit] + "…"


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


# Any run of 19+ digits: an integer orjson would turn into a float past 64 bits (json keeps it exact).
_LONG_NUMBER = re.compile(rb"[0-9]{19}")


def _fast_body(text_bytes: bytes) -> dict[str, Any] | None:
    """The common small response decoded by orjson (~5x faster than `json`), or None to take the
    full path. Only where both decoders agree: an object, at most MAX_DEPTH brackets in all (so it
    cannot nest deeper), no number orjson would round. orjson refuses what `parse_response`
    refuses (NaN/Infinity, lone surrogate escapes, invalid UTF-8, trailing data) and also
    numbers that overflow a double (1e400, which `json` reads as inf): each of those falls back,
    and the full path gives its verdict and message exactly as before."""
    if text_bytes[:1] != b"{" or text_bytes.count(b"[") + text_bytes.count(b"{") > MAX_DEPTH:
        return None
    if _LONG_NUMBER.search(text_bytes) is not None:
        return None
    try:
        body = orjson.loads(text_bytes)
    except orjson.JSONDecodeError:
        return None
    return body if isinstance(body, dict) else None


_DECODER = json.JSONDecoder(parse_constant=_no_constant)


def parse_response(stdout: bytes) -> Response:
    """Judge stdout by the protocol's rules; raise ProtocolViolation with a precise message."""
    text_bytes = stdout.strip()
    body = _fast_body(text_bytes)
    if body is not None:
        return validate_body(body)
    if not text_bytes:
        raise ProtocolViolation("plugin wrote nothing to stdout (expected one JSON object)")
    try:
        text = text_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolViolation(
            f"plugin stdout is not UTF-8 text: {quote(text_bytes)} (first invalid byte at offset {exc.start})"
        )
    depth = nesting_depth(text)
    if depth > MAX_DEPTH:
        raise ProtocolViolation(
            f"plugin stdout nests arrays/objects {depth} levels deep (accepted: at most {MAX_DEPTH}): "
            f"{quote(text_bytes, 40)}"
        )
    try:
        body, end = _DECODER.raw_decode(text)
    except json.JSONDecodeError as exc:
        raise ProtocolViolation(f"plugin stdout is not JSON ({exc.msg} at char {exc.pos}): {quote(text_bytes)}")
    except ValueError as exc:  # NaN/Infinity, or an integer too long to convert
        raise ProtocolViolation(f"plugin stdout is not valid JSON ({exc}): {quote(text_bytes)}")
    if _SURROGATE_ESCAPE.search(text):
        where = lone_surrogate(body)
        if where is not None:
            raise ProtocolViolation(
                f"plugin stdout holds invalid Unicode: an unpaired surrogate escape (like \\ud800) in {where} "
                f"(accepted: escapes that form valid characters; pairs like \\ud83d\\ude00 are fine)"
            )
    rest = text[end:].strip()
    if rest:
        raise ProtocolViolation(
            f"plugin stdout holds more than one JSON value (expected exactly one object); "
            f"extra data starts with {quote(rest.encode())}"
        )
    if not isinstance(body, dict):
        raise ProtocolViolation(
            f"plugin stdout is a JSON {type(body).__name__}, expected an object: {quote(text_bytes)}"
        )
    return validate_body(body)


def validate_body(body: dict[str, Any]) -> Response:
    status = body.get("status")
    if status not in ("ok", "error"):
        raise ProtocolViolation(f"response 'status' is {status!r} (accepted: 'ok' or 'error')")
    retry = body.get("retry", True)
    if not isinstance(retry, bool):
        raise ProtocolViolation(f"response 'retry' is {retry!r} (accepted: true or false)")
    result = body.get("result")
    error = body.get("error")
    if status == "ok":
        if result is None or (isinstance(result, str) and not result.strip()):
            raise ProtocolViolation("response has status 'ok' but no non-blank 'result'")
    else:
        if error is None or (isinstance(error, str) and not error.strip()):
            raise ProtocolViolation("response has status 'error' but no 'error' message")
        if not isinstance(error, str):
            error = json.dumps(error)
    events = body.get("events")
    if events is None:
        events = []
    if not isinstance(events, list):
        raise ProtocolViolation(f"response 'events' must be a list, got {type(events).__name__}")
    for index, event in enumerate(events):
        if not isinstance(event, dict):
            raise ProtocolViolation(f"response events[{index}] must be an object")
        etype = event.get("type")
        if not isinstance(etype, str) or not etype.strip():
            raise ProtocolViolation(f"response events[{index}] has an empty 'type' (a non-empty string is required)")
        if "dedupe_key" in event and event["dedupe_key"] is not None and not isinstance(event["dedupe_key"], str):
            raise ProtocolViolation(f"response events[{index}].dedupe_key must be a string")
    state_updates = body.get("state_updates")
    if state_updates is not None and not isinstance(state_updates, dict):
        raise ProtocolViolation(f"response 'state_updates' must be an object, got {type(state_updates).__name__}")
    logs_in = body.get("logs")
    if logs_in is None:
        logs_in = []
    if not isinstance(logs_in, list):
        raise ProtocolViolation(f"response 'logs' must be a list, got {type(logs_in).__name__}")
    logs: list[dict[str, str]] = []
    for index, entry in enumerate(logs_in):
        if not isinstance(entry, dict):
            raise ProtocolViolation(f"response logs[{index}] must be an object with level and message")
        level = str(entry.get("level", "info")).lower()
        if level == "warning":
            level = "warn"
        if level not in LOG_LEVELS:
            level = "info"
        message = entry.get("message", "")
        logs.append({"level": level, "message": message if isinstance(message, str) else json.dumps(message)})
    return Response(
        status=status,
        result=result,
        error=error,
        retry=retry,
        events=events,
        state_updates=state_updates,
        logs=logs,
        raw=body,
    )
