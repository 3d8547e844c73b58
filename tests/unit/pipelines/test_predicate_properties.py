"""Property tests for the condition evaluator: typing rules, absence, combinators, every operator, limits."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ductile.pipelines.paths import is_number, json_equal
from ductile.pipelines.predicate import (
    MAX_ATOMS,
    MAX_DEPTH,
    OPERATORS,
    ConditionError,
    EvaluationError,
    evaluate,
    parse_condition,
)

from .strategies import json_objects, json_values, relaxed

ORDERING = ("gt", "gte", "lt", "lte")
TEXT = ("contains", "startswith", "endswith", "regex")
NEVER_RAISE = ("exists", "eq", "neq", "in")
numbers = st.integers(-100, 100) | st.floats(-1e6, 1e6, allow_nan=False)
texts = st.text(alphabet="abAB.", max_size=4)


def value_for(op: str) -> st.SearchStrategy:
    if op in ORDERING:
        return numbers
    if op == "regex":
        return st.sampled_from(["a.*", "(?i)ab", "[ab]+", "", "b|a"])
    if op in TEXT:
        return texts
    if op == "in":
        return st.lists(json_values, max_size=3)
    return json_values


@st.composite
def atoms(
    draw, ops=OPERATORS, paths=st.sampled_from(["payload.v", "payload.w", "context.c", "payload.absent", "config.k"])
):
    op = draw(st.sampled_from(ops))
    raw = {"path": draw(paths), "op": op}
    if op != "exists":
        raw["value"] = draw(value_for(op))
    return raw


def trees(leaf=None):
    leaf = leaf if leaf is not None else atoms()
    return st.recursive(
        leaf,
        lambda inner: (
            st.builds(lambda c: {"not": c}, inner)
            | st.lists(inner, min_size=1, max_size=4).map(lambda cs: {"all": cs})
            | st.lists(inner, min_size=1, max_size=4).map(lambda cs: {"any": cs})
        ),
        max_leaves=12,
    )


scopes = st.fixed_dictionaries({"payload": json_objects, "context": json_objects}).map(
    lambda s: {**s, "payload": {**s["payload"]}}
)


@st.composite
def scopes_with_v(draw):
    s = draw(scopes)
    s["payload"]["v"] = draw(json_values)
    s["payload"].pop("absent", None)
    return s


def outcome(raw, scope):
    try:
        return evaluate(parse_condition(raw), scope)
    except EvaluationError:
        return "error"


@relaxed(100)
@given(scopes_with_v(), st.sampled_from(ORDERING), numbers)
def test_ordering_ops_raise_exactly_when_the_present_value_is_not_a_number(scope, op, value):
    v = scope["payload"]["v"]
    cond = parse_condition({"path": "payload.v", "op": op, "value": value})
    if is_number(v):
        expected = {"gt": v > value, "gte": v >= value, "lt": v < value, "lte": v <= value}[op]
        assert evaluate(cond, scope) is expected
    else:
        with pytest.raises(EvaluationError, match=f"payload.v: op {op} requires a number value"):
            evaluate(cond, scope)


@relaxed(100)
@given(scopes_with_v(), st.sampled_from(TEXT), st.data())
def test_text_ops_raise_exactly_when_the_present_value_is_not_a_string(scope, op, data):
    value = data.draw(value_for(op))
    cond = parse_condition({"path": "payload.v", "op": op, "value": value})
    if isinstance(scope["payload"]["v"], str):
        assert isinstance(evaluate(cond, scope), bool)
    else:
        with pytest.raises(EvaluationError, match=f"op {op} requires a string value"):
            evaluate(cond, scope)


@relaxed()
@given(st.text(alphabet="abAB", max_size=5), texts)
def test_text_ops_are_case_insensitive_substring_prefix_suffix(v, value):
    scope = {"payload": {"v": v}}
    for op, reference in (("contains", str.__contains__), ("startswith", str.startswith), ("endswith", str.endswith)):
        assert outcome({"path": "payload.v", "op": op, "value": value}, scope) is reference(v.lower(), value.lower())


@relaxed(150)
@given(scopes_with_v(), json_values)
def test_eq_and_neq_are_complementary_for_present_values(scope, value):
    eq = outcome({"path": "payload.v", "op": "eq", "value": value}, scope)
    neq = outcome({"path": "payload.v", "op": "neq", "value": value}, scope)
    assert eq is (not neq)
    assert eq is json_equal(scope["payload"]["v"], value)


@relaxed()
@given(scopes_with_v())
def test_eq_is_reflexive_and_numbers_compare_numerically(scope):
    v = scope["payload"]["v"]
    assert outcome({"path": "payload.v", "op": "eq", "value": copy.deepcopy(v)}, scope) is True
    if is_number(v) and abs(v) < 2**53:
        assert outcome({"path": "payload.v", "op": "eq", "value": float(v)}, scope) is True
    if isinstance(v, bool):
        assert outcome({"path": "payload.v", "op": "eq", "value": int(v)}, scope) is False


@relaxed(80)
@given(scopes_with_v(), st.lists(json_values, max_size=4))
def test_in_is_eq_against_any_element(scope, items):
    expected = any(json_equal(scope["payload"]["v"], item) for item in items)
    assert outcome({"path": "payload.v", "op": "in", "value": items}, scope) is expected


@relaxed(100)
@given(
    scopes, atoms(paths=st.sampled_from(["payload.absent", "payload.absent.deeper", "config.k", "context.absent.x"]))
)
def test_absent_paths_never_raise_and_only_neq_holds(scope, raw):
    scope["payload"].pop("absent", None)
    scope["context"].pop("absent", None)
    assert evaluate(parse_condition(raw), scope) is (raw["op"] == "neq")


@relaxed(100)
@given(scopes_with_v(), trees())
def test_not_negates(scope, raw):
    inner, negated = outcome(raw, scope), outcome({"not": raw}, scope)
    assert negated == ("error" if inner == "error" else not inner)


@relaxed(60)
@given(scopes_with_v(), st.lists(trees(atoms(ops=NEVER_RAISE)), min_size=1, max_size=5))
def test_all_and_any_agree_with_python_over_children(scope, children):
    results = [outcome(c, scope) for c in children]
    assert outcome({"all": children}, scope) is all(results)
    assert outcome({"any": children}, scope) is any(results)


def shape(raw) -> tuple[int, int]:
    """(depth, atom count) of a raw condition tree."""
    if "not" in raw:
        d, a = shape(raw["not"])
        return d + 1, a
    for key in ("all", "any"):
        if key in raw:
            parts = [shape(c) for c in raw[key]]
            return 1 + max(d for d, _ in parts), sum(a for _, a in parts)
    return 1, 1


def wide(raw, times: int):
    return {"any": [raw] * times} if times > 1 else raw


@relaxed(150)
@given(trees(), st.integers(0, 20), st.integers(1, 10))
def test_random_trees_parse_within_limits_and_are_rejected_beyond(raw, nots, copies):
    raw = wide(raw, copies)
    for _ in range(nots):
        raw = {"not": raw}
    depth, count = shape(raw)
    if depth <= MAX_DEPTH and count <= MAX_ATOMS:
        parse_condition(raw)
        return
    with pytest.raises(ConditionError) as info:
        parse_condition(raw)
    message = str(info.value)
    if depth > MAX_DEPTH and count <= MAX_ATOMS:
        assert "condition too deep" in message
    elif count > MAX_ATOMS and depth <= MAX_DEPTH:
        assert "condition too large" in message
    else:
        assert "condition too deep" in message or "condition too large" in message


@relaxed()
@given(st.sampled_from(OPERATORS), json_values)
def test_every_operator_parses_with_a_valid_value_and_roots_are_reported(op, _ignored):
    raw = {"path": "context.k", "op": op}
    if op != "exists":
        raw["value"] = {"in": [1], "regex": "a"}.get(op, 1 if op in ORDERING else "a")
    assert parse_condition(raw).roots() == frozenset({"context"})
