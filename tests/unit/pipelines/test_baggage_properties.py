"""Property tests for baggage claims: re-claims, inherited immutability, parent preserved plus claims."""

from __future__ import annotations

import copy

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from ductile.pipelines.baggage import BaggageError, apply_claims, parse_baggage
from ductile.pipelines.paths import MISSING, json_equal, resolve

from .strategies import identifiers, json_values, relaxed

targets = st.lists(identifiers, min_size=1, max_size=3).map(".".join)
contexts = st.recursive(
    st.dictionaries(identifiers, json_values, max_size=3),
    lambda inner: st.dictionaries(identifiers, inner, max_size=3),
    max_leaves=5,
)


@st.composite
def claims(draw):
    """A baggage block of path claims, the payload it reads, and the claimed (target, value) pairs."""
    chosen = draw(st.dictionaries(targets, json_values, min_size=1, max_size=4))
    for target in list(chosen):  # overlapping targets are a load error, tested by example
        if any(other != target and other.startswith(target + ".") for other in chosen):
            del chosen[target]
    payload = {f"s{i}": value for i, value in enumerate(chosen.values())}
    raw = {target: f"payload.s{i}" for i, target in enumerate(chosen)}
    return raw, payload, chosen


def leaves(obj, prefix=()):
    """Paths to every non-object value: objects may gain keys below them, these may never change."""
    for key, value in obj.items():
        if isinstance(value, dict):
            yield from leaves(value, (*prefix, key))
        else:
            yield (*prefix, key), value


@relaxed(60)
@given(claims(), contexts)
def test_result_is_parent_unchanged_plus_claims_and_equal_reclaims_succeed(claim, parent):
    raw, payload, chosen = claim
    spec = parse_baggage(raw)
    before = copy.deepcopy(parent)
    try:
        result = apply_claims(spec, payload, parent)
    except BaggageError as exc:
        assert "is inherited and immutable" in str(exc) or "not an object" in str(exc)
        return
    assert parent == before
    for path, value in leaves(parent):
        assert json_equal(resolve(("context", *path), {"context": result}), value)
    for target, value in chosen.items():
        assert json_equal(resolve(("context", *target.split(".")), {"context": result}), value)
    # The child context re-claiming the same values is fine, and changes nothing.
    assert apply_claims(spec, payload, result) == result


@relaxed(60)
@given(contexts, json_values, st.data())
def test_a_different_value_on_an_inherited_path_fails(parent, new_value, data):
    paths = [path for path, _ in leaves(parent)]
    assume(paths)
    path = data.draw(st.sampled_from(paths))
    old = resolve(("context", *path), {"context": parent})
    assume(not json_equal(old, new_value))
    spec = parse_baggage({".".join(path): "payload.x"})
    with pytest.raises(BaggageError, match="is inherited and immutable"):
        apply_claims(spec, {"x": new_value}, parent)


@relaxed()
@given(contexts, json_values)
def test_origin_anchors_never_change(parent, value):
    parent = {**parent, "origin_id": "anchor"}
    spec = parse_baggage({"origin_id": "payload.x"})
    if json_equal(value, "anchor"):
        assert apply_claims(spec, {"x": value}, parent)["origin_id"] == "anchor"
    else:
        with pytest.raises(BaggageError, match="origin anchor is immutable"):
            apply_claims(spec, {"x": value}, parent)


@relaxed()
@given(st.dictionaries(identifiers, json_values, max_size=4), contexts)
def test_bulk_claims_copy_every_key_under_the_namespace(meta, parent):
    assume("ns" not in parent)
    result = apply_claims(parse_baggage({"from": "payload.meta", "namespace": "ns"}), {"meta": meta}, parent)
    for key, value in meta.items():
        assert json_equal(result["ns"][key], value)
    assert resolve(("context", "ns"), {"context": result}) is not MISSING or not meta
