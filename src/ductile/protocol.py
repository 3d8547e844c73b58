"""Plugin protocol v2: what goes to a plugin on stdin and how its stdout is judged.

Pure encode/decode. Spawning, pipes and timeouts live in `executor.py`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

PROTOCOL_VERSION = 2
STDOUT_LIMIT = 10 * 1024 * 1024
STDERR_LIMIT = 64 * 1024
EXIT_CONFIG = 78
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
    return json.dumps(request, separators=(",", ":")).encode() + b"\n"


def quote(data: bytes, limit: int = _QUOTE_BYTES) -> str:
    text = data[:limit].decode("utf-8", errors="replace")
    return repr(text) + ("…" if len(data) > limit else "")


def parse_response(stdout: bytes) -> Response:
    """Judge stdout by the protocol's rules; raise ProtocolViolation with a precise message."""
    text_bytes = stdout.strip()
    if not text_bytes:
        raise ProtocolViolation("plugin wrote nothing to stdout (expected one JSON object)")
    try:
        text = text_bytes.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolViolation(f"plugin stdout is not UTF-8 text: {quote(text_bytes)}")
    decoder = json.JSONDecoder()
    try:
        body, end = decoder.raw_decode(text)
    except json.JSONDecodeError as exc:
        raise ProtocolViolation(f"plugin stdout is not JSON ({exc.msg} at char {exc.pos}): {quote(text_bytes)}")
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
