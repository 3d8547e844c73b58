"""`ductile.webhooks.event` (§7.5): how a body is stored, and that what it predicts is what
dispatch (`ductile.pipelines.delivery`) really hands the plugin."""

from __future__ import annotations

import json

import pytest

from ductile.pipelines.compile import EMPTY_GRAPH
from ductile.pipelines.delivery import DeliveryError, request_event
from ductile.webhooks.event import Shape, describe

CONTEXT = {"ductile_plugin": "hook"}


def delivered(stored_text: str | None) -> dict | None:
    stored = None if stored_text is None else json.loads(stored_text)
    if stored in (None, "", {}, []):
        return None  # dispatch builds no event for an empty payload (§4.2)
    return request_event(stored, dict(CONTEXT), EMPTY_GRAPH, None)


@pytest.mark.parametrize(
    ("body", "shape", "payload"),
    [
        (b'{"title":"t"}', Shape.RAW, {"title": "t", "ductile_plugin": "hook"}),
        (b'{"type":"","url":"u"}', Shape.RAW, {"type": "", "url": "u", "ductile_plugin": "hook"}),
        (b'{"type":"x","payload":{"k":1},"extra":2}', Shape.ENVELOPE, {"k": 1, "ductile_plugin": "hook"}),
        (b'{"payload":{"k":1}}', Shape.ENVELOPE, {"k": 1, "ductile_plugin": "hook"}),
        (b'{"type":"x","url":"u"}', Shape.TYPE_ONLY, {"ductile_plugin": "hook"}),  # Ductile drops the data
    ],
)
def test_shapes_match_what_dispatch_delivers(body: bytes, shape: Shape, payload: dict) -> None:
    stored = describe(body)
    assert stored.shape is shape
    assert stored.text == body.decode()  # verbatim
    event = delivered(stored.text)
    assert event is not None and event["payload"] == payload


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"[1]", "expected a JSON object, got array"),
        (b'"text"', "expected a JSON object, got str"),
        (b"42", "expected a JSON object, got int"),
        (b'{"type":1}', "type must be a string"),
        (b'{"timestamp":"2026-11-29"}', "is not RFC 3339"),
        (b'{"timestamp":"yesterday","payload":{}}', "is not RFC 3339"),
    ],
)
def test_invalid_envelopes_fail_at_dispatch_with_the_same_reason(body: bytes, problem: str) -> None:
    stored = describe(body)
    assert stored.shape is Shape.INVALID and problem in (stored.problem or "")
    with pytest.raises(DeliveryError, match=r"^failed to unmarshal event payload: ") as caught:
        delivered(stored.text)
    assert problem in str(caught.value)


def test_valid_timestamps_pass() -> None:
    stored = describe(b'{"type":"x","payload":{},"timestamp":"2026-11-29T10:00:00.123+02:00"}')
    assert stored.shape is Shape.ENVELOPE
    event = delivered(stored.text)
    assert event is not None and event["timestamp"] == "2026-11-29T10:00:00.123+02:00"


@pytest.mark.parametrize("body", [b"not json", b"{'single': 'quotes'}", b'{"name":"caf\xe9"}', b"\xff\xfe"])
def test_non_json_bodies_are_kept_as_a_json_string_and_fail_at_dispatch(body: bytes) -> None:
    stored = describe(body)
    assert stored.shape is Shape.INVALID
    assert stored.text is not None and isinstance(json.loads(stored.text), str)
    assert json.loads(stored.text).encode("utf-8", "surrogateescape") == body  # nothing lost
    with pytest.raises(DeliveryError, match=r"^failed to unmarshal event payload: "):
        delivered(stored.text)


def test_an_empty_body_is_no_payload_and_no_event() -> None:
    stored = describe(b"")
    assert (stored.text, stored.shape) == (None, Shape.EMPTY)
    assert delivered(stored.text) is None


def test_whitespace_and_key_order_are_kept() -> None:
    body = b'\n { "b" : 2 ,"a":1 }\n'
    assert describe(body).text == body.decode()
