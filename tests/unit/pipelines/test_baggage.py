"""Baggage (§4.4, §3.5): load errors with the spec's message fragments, claims, immutability, size."""

from __future__ import annotations

import pytest

from ductile.pipelines.baggage import (
    CONTEXT_LIMIT,
    BaggageError,
    BaggageSpec,
    ContextTooLarge,
    apply_claims,
    check_size,
    context_size,
    parse_baggage,
)


def test_parse_all_forms():
    spec = parse_baggage(
        {
            "web.url": "payload.url",
            "run.first": " context.run.first ",
            "whole": "payload",
            "from": "payload.metadata",
            "namespace": "whisper",
        }
    )
    assert spec.claims == (
        (("run", "first"), ("context", "run", "first")),
        (("web", "url"), ("payload", "url")),
        (("whole",), ("payload",)),
    )
    assert spec.bulk_from == ("payload", "metadata")
    assert spec.namespace == ("whisper",)
    assert not spec.empty


def test_none_and_empty_claim_nothing():
    assert parse_baggage(None) == BaggageSpec()
    assert parse_baggage({}).empty
    assert apply_claims(BaggageSpec(), {"x": 1}, {"a": 1}) == {"a": 1}


def test_bulk_from_bare_payload():
    spec = parse_baggage({"from": "payload", "namespace": "meta.all"})
    assert apply_claims(spec, {"a": 1, "b": {"c": 2}}, {}) == {"meta": {"all": {"a": 1, "b": {"c": 2}}}}


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (["a"], "baggage must be a mapping"),
        ("payload.x", "baggage must be a mapping"),
        ({"": "payload.x"}, "baggage keys must be non-empty"),
        ({"  ": "payload.x"}, "baggage keys must be non-empty"),
        ({"a": {"b": "payload.x"}}, "baggage.a must be a scalar string"),
        ({"a": ["payload.x"]}, "baggage.a must be a scalar string"),
        ({"a": ""}, "baggage.a must be non-empty"),
        ({"a": None}, "baggage.a must be non-empty"),
        ({"namespace": "ns"}, "baggage namespace requires from"),
        ({"from": "payload.m"}, "baggage from requires namespace"),
        ({"a..b": "payload.x"}, 'invalid baggage path "a..b": path segments must be non-empty'),
        (
            {"a.1b": "payload.x"},
            'invalid baggage path "a.1b": path segment "1b" must use letters, digits, or underscore and must not start with a digit',
        ),
        ({"a-b": "payload.x"}, 'path segment "a-b" must use letters, digits, or underscore'),
        ({"from": "context.x", "namespace": "ns"}, 'baggage from "context.x" must reference payload or payload.<path>'),
        ({"from": "payloadx", "namespace": "ns"}, 'baggage from "payloadx" must reference payload or payload.<path>'),
        ({"from": "payload", "namespace": "9ns"}, 'invalid baggage namespace "9ns": path segment "9ns"'),
        ({"ductile.x": "payload.x"}, 'baggage path "ductile.x" is reserved'),
        ({"ductile_route": "payload.x"}, 'baggage path "ductile_route" is reserved'),
        ({"from": "payload", "namespace": "ductile"}, 'baggage path "ductile" is reserved'),
        ({"a": "config.x"}, 'baggage.a source "config.x" must reference payload, payload.<path> or context.<path>'),
        ({"a": "context"}, 'baggage.a source "context" must reference'),
        ({"a": "url"}, 'baggage.a source "url" must reference'),
        ({"a": 5}, 'baggage.a source "5" must reference'),
        ({"a": "payload..x"}, 'baggage.a source "payload..x": path segments must be non-empty'),
        ({"a": "payload.x", "a.b": "payload.y"}, 'baggage paths "a" and "a.b" overlap'),
        ({"w.x": "payload.x", "from": "payload", "namespace": "w"}, 'baggage paths "w" and "w.x" overlap'),
        ({"w": "payload.x", "from": "payload", "namespace": "w.meta"}, 'baggage paths "w" and "w.meta" overlap'),
    ],
)
def test_load_errors(raw, fragment):
    with pytest.raises(BaggageError) as info:
        parse_baggage(raw)
    assert fragment in str(info.value)


def test_ductile_prefix_only_reserved_as_first_segment():
    spec = parse_baggage({"my.ductile": "payload.x", "ductilex": "payload.x"})
    assert apply_claims(spec, {"x": 1}, {}) == {"my": {"ductile": 1}, "ductilex": 1}


def test_claims_resolve_payload_and_parent_context_and_leave_parent_untouched():
    spec = parse_baggage(
        {"web.url": "payload.url", "copy.first": "context.run.first", "from": "payload.meta", "namespace": "whisper"}
    )
    parent = {"run": {"first": 1}, "ductile": {"route_depth": 1}}
    payload = {"url": "https://x", "meta": {"lang": "en", "model": {"size": "small"}}}
    result = apply_claims(spec, payload, parent)
    assert result == {
        "run": {"first": 1},
        "ductile": {"route_depth": 1},
        "web": {"url": "https://x"},
        "copy": {"first": 1},
        "whisper": {"lang": "en", "model": {"size": "small"}},
    }
    assert parent == {"run": {"first": 1}, "ductile": {"route_depth": 1}}
    result["whisper"]["model"]["size"] = "large"
    assert payload["meta"]["model"]["size"] == "small"  # claimed values are copies


def test_claims_merge_into_inherited_objects():
    spec = parse_baggage({"web.title": "payload.title"})
    assert apply_claims(spec, {"title": "T"}, {"web": {"url": "u"}}) == {"web": {"url": "u", "title": "T"}}


def test_equal_reclaim_is_allowed_and_json_equal():
    spec = parse_baggage({"web.count": "payload.n"})
    assert apply_claims(spec, {"n": 3.0}, {"web": {"count": 3}}) == {"web": {"count": 3}}


@pytest.mark.parametrize(
    ("raw", "payload", "parent", "fragment"),
    [
        ({"web.url": "payload.url"}, {}, {}, 'baggage.web.url: source "payload.url" not found'),
        ({"web.url": "payload.url"}, None, {}, 'source "payload.url" not found'),
        ({"a": "context.run.x"}, {}, {"run": {}}, 'baggage.a: source "context.run.x" not found'),
        ({"from": "payload.meta", "namespace": "ns"}, {}, {}, 'baggage from "payload.meta" not found'),
        (
            {"from": "payload.meta", "namespace": "ns"},
            {"meta": [1]},
            {},
            'baggage from "payload.meta" must resolve to an object, found array',
        ),
        (
            {"web.url": "payload.url"},
            {"url": "new"},
            {"web": {"url": "old"}},
            'baggage path "web.url" is inherited and immutable',
        ),
        ({"flag": "payload.f"}, {"f": 1}, {"flag": True}, 'baggage path "flag" is inherited and immutable'),
        (
            {"web.url": "payload.url"},
            {"url": "u"},
            {"web": "a string"},
            'baggage path "web.url": "web" holds a string, not an object',
        ),
        ({"a.b.c": "payload.x"}, {"x": 1}, {"a": {"b": 2}}, '"a.b" holds a number, not an object'),
        ({"origin_user": "payload.u"}, {"u": "eve"}, {"origin_user": "matt"}, "origin anchor is immutable"),
        ({"origin_req.extra": "payload.u"}, {"u": "x"}, {"origin_req": {"id": 1}}, "origin anchor is immutable"),
        (
            {"from": "payload.m", "namespace": "w", "w2": "payload.x"},
            {"m": {"k": 1}, "x": 1},
            {"w": 5},
            '"w" holds a number',
        ),
    ],
)
def test_claim_errors(raw, payload, parent, fragment):
    spec = parse_baggage(raw)
    with pytest.raises(BaggageError) as info:
        apply_claims(spec, payload, parent)
    assert fragment in str(info.value)


def test_new_origin_anchor_may_be_set_once():
    spec = parse_baggage({"origin_user": "payload.u"})
    assert apply_claims(spec, {"u": "matt"}, {}) == {"origin_user": "matt"}
    assert apply_claims(spec, {"u": "matt"}, {"origin_user": "matt"}) == {"origin_user": "matt"}


def test_size_limit_is_inclusive():
    overhead = context_size({"k": ""})
    at_limit = {"k": "x" * (CONTEXT_LIMIT - overhead)}
    assert check_size(at_limit) == CONTEXT_LIMIT
    with pytest.raises(ContextTooLarge) as info:
        check_size({"k": "x" * (CONTEXT_LIMIT - overhead + 1)})
    assert info.value.bytes_actual == CONTEXT_LIMIT + 1
    assert info.value.bytes_limit == CONTEXT_LIMIT
    assert "accumulated context exceeds max size (1048576 bytes)" in str(info.value)
    assert isinstance(info.value, BaggageError)


def test_size_counts_utf8_bytes():
    assert context_size({"k": "é"}) == len('{"k":"é"}'.encode())
