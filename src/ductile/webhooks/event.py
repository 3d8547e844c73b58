"""A webhook body as the job stores it and as its plugin will see it (spec pipelines.md §7.5).

Ductile stores the raw body bytes as the job payload and reads them, at dispatch, as an event
envelope `{type, payload, dedupe_key, source, timestamp, event_id}`. Our payload column holds
JSON text, so (docs/WEBHOOKS.md, "What is stored"):

- a body that is UTF-8 JSON is stored **verbatim** (the exact bytes, whitespace and key order
  included): the column *is* the body;
- an empty body is stored as no payload (NULL): the plugin runs without an `event`, as in Ductile;
- any other body (not JSON, not UTF-8) is stored as one JSON string holding it (undecodable bytes
  as `\\udcXX` escapes), which dispatch cannot read as an event:
  the job fails at once with `failed to unmarshal event payload: ...`, no retry, no hooks.

`describe` also says what the plugin will get, so the listener can log a warning when a body's
data will not reach the plugin (a `type` without `payload`: Ductile hands the plugin `{}`).
Pure: no I/O. The envelope rules themselves live in `ductile.pipelines.delivery` (dispatch).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ductile.timeutil import is_rfc3339

ENVELOPE_STRINGS = ("type", "source", "event_id", "dedupe_key", "timestamp")


class Shape(StrEnum):
    ENVELOPE = "envelope"  # has a `payload` object: event.payload = that object
    RAW = "raw"  # no `payload`, no `type`: the whole body becomes event.payload
    TYPE_ONLY = "type_only"  # a `type` but no `payload`: event.payload = {} (the body's data is lost)
    EMPTY = "empty"  # no body: the plugin runs without an event
    INVALID = "invalid"  # the job will fail at dispatch (not an object, bad envelope field)


@dataclass(frozen=True)
class Stored:
    text: str | None  # what the payload column holds
    shape: Shape
    problem: str | None = None  # for INVALID: what dispatch will say, after "failed to unmarshal event payload: "


def describe(body: bytes) -> Stored:
    """How `body` is stored and what its plugin will receive (one JSON parse)."""
    if not body:
        return Stored(None, Shape.EMPTY)
    try:
        text = body.decode("utf-8")
        value = json.loads(text)
    except UnicodeDecodeError:
        return Stored(_as_string(body), Shape.INVALID, "the body is not UTF-8 text")
    except ValueError as exc:
        return Stored(_as_string(body), Shape.INVALID, f"the body is not JSON ({exc})")
    return Stored(text, *envelope_shape(value))


def envelope_shape(value: Any) -> tuple[Shape, str | None]:
    """§7.5 (and §4.2's raw promotion) for a parsed body."""
    if not isinstance(value, dict):
        kind = "array" if isinstance(value, list) else type(value).__name__
        return Shape.INVALID, f"expected a JSON object, got {kind}"
    for key in ENVELOPE_STRINGS:
        field = value.get(key)
        if field is not None and not isinstance(field, str):
            return Shape.INVALID, f"{key} must be a string, got {field!r}"
    stamp = value.get("timestamp")
    if stamp and not is_rfc3339(stamp):
        return Shape.INVALID, f"timestamp {stamp!r} is not RFC 3339"
    payload = value.get("payload")
    if payload is None:
        return (Shape.TYPE_ONLY, None) if value.get("type") else (Shape.RAW, None)
    return Shape.ENVELOPE, None


def _as_string(body: bytes) -> str:
    return json.dumps(body.decode("utf-8", "surrogateescape"))
