"""Example tests for every operator, shape and load error of the condition language (§2.5)."""

from __future__ import annotations

import datetime as dt

import pytest

from ductile.pipelines.predicate import (
    MAX_ATOMS,
    MAX_DEPTH,
    ConditionError,
    EvaluationError,
    evaluate,
    parse_condition,
)

SCOPES = {
    "payload": {
        "kind": "Video",
        "n": 3,
        "f": 2.5,
        "flag": True,
        "nothing": None,
        "tags": ["a", "b"],
        "obj": {"x": 1, "y": [1, 2]},
        "url": "https://www.YouTube.com/watch?v=abc",
    },
    "context": {"origin_user": "matt", "run": {"first": 1}},
}


def check(raw, scopes=SCOPES) -> bool:
    return evaluate(parse_condition(raw), scopes)


def atom(path, op, value=None, **extra):
    raw = {"path": path, "op": op, **extra}
    if op != "exists" or value is not None:
        raw["value"] = value
    return raw


def nested_not(depth: int):
    raw = atom("payload.n", "eq", 3)
    for _ in range(depth - 1):
        raw = {"not": raw}
    return raw


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (atom("payload.kind", "exists"), True),
        (atom("payload.nothing", "exists"), True),  # present null is present
        (atom("payload.absent", "exists"), False),
        (atom("payload", "exists"), True),
        (atom("config", "exists"), False),
        (atom("payload.kind", "eq", "Video"), True),
        (atom("payload.kind", "eq", "video"), False),  # eq is case-sensitive
        (atom("payload.n", "eq", 3.0), True),  # 1 == 1.0
        (atom("payload.flag", "eq", 1), False),  # True is not the number 1
        (atom("payload.n", "eq", "3"), False),  # no string/number coercion
        (atom("payload.nothing", "eq", None), True),
        (atom("payload.obj", "eq", {"y": [1.0, 2], "x": 1}), True),
        (atom("payload.tags", "eq", ["b", "a"]), False),
        (atom("payload.kind", "neq", "audio"), True),
        (atom("payload.kind", "neq", "Video"), False),
        (atom("payload.kind", "in", ["Audio", "Video"]), True),
        (atom("payload.n", "in", [1, 3.0]), True),
        (atom("payload.flag", "in", [1]), False),
        (atom("payload.kind", "in", []), False),
        (atom("payload.n", "gt", 2), True),
        (atom("payload.n", "gt", 3), False),
        (atom("payload.n", "gte", 3.0), True),
        (atom("payload.f", "lt", 3), True),
        (atom("payload.f", "lte", 2.5), True),
        (atom("payload.f", "lte", 2.4), False),
        (atom("payload.url", "contains", "youtube.com"), True),  # case-insensitive
        (atom("payload.url", "contains", "vimeo"), False),
        (atom("payload.url", "startswith", "HTTPS://"), True),
        (atom("payload.url", "endswith", "V=ABC"), True),
        (atom("payload.url", "endswith", "xyz"), False),
        (atom("payload.kind", "regex", "Vid.*"), True),
        (atom("payload.kind", "regex", "Vid"), False),  # whole-string match
        (atom("payload.kind", "regex", "(?i)video"), True),
        (atom("payload.kind", "regex", "video"), False),
        (atom("payload.kind", "regex", "a|Video"), True),  # alternation is anchored as a whole
        (atom("payload.kind", "regex", "V|Video"), True),
        (atom("context.origin_user", "eq", "matt"), True),
        (atom("context.run.first", "gte", 1), True),
    ],
)
def test_operators(raw, expected):
    assert check(raw) is expected


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        ("exists", None, False),
        ("eq", "x", False),
        ("eq", None, False),
        ("neq", "x", True),
        ("in", ["x", None], False),
        ("gt", 1, False),
        ("gte", 1, False),
        ("lt", 1, False),
        ("lte", 1, False),
        ("contains", "x", False),
        ("startswith", "x", False),
        ("endswith", "x", False),
        ("regex", ".*", False),
    ],
)
@pytest.mark.parametrize("path", ["payload.absent", "payload.kind.deeper", "config.x", "context.run.first.x"])
def test_absent_paths_compare_as_null_and_never_raise(path, op, value, expected):
    assert check(atom(path, op, value)) is expected


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (atom("payload.kind", "gt", 1), "path payload.kind: op gt requires a number value, found string"),
        (atom("payload.flag", "lt", 1), "op lt requires a number value, found boolean"),
        (atom("payload.nothing", "gte", 1), "found null"),
        (atom("payload.obj", "lte", 1), "found object"),
        (atom("payload.n", "contains", "3"), "path payload.n: op contains requires a string value, found number"),
        (atom("payload.tags", "startswith", "a"), "found array"),
        (atom("payload.flag", "endswith", "e"), "found boolean"),
        (atom("payload.n", "regex", "3"), "op regex requires a string value, found number"),
    ],
)
def test_type_errors_name_path_op_and_type(raw, fragment):
    with pytest.raises(EvaluationError) as info:
        check(raw)
    assert fragment in str(info.value)


def test_all_any_not():
    yes, no = atom("payload.n", "eq", 3), atom("payload.n", "eq", 4)
    assert check({"all": [yes, yes]}) is True
    assert check({"all": [yes, no]}) is False
    assert check({"any": [no, yes]}) is True
    assert check({"any": [no, no]}) is False
    assert check({"not": no}) is True
    assert check({"not": {"not": yes}}) is True


def test_all_and_any_short_circuit_before_a_type_error():
    bad = atom("payload.kind", "gt", 1)
    assert check({"all": [atom("payload.n", "eq", 4), bad]}) is False
    assert check({"any": [atom("payload.n", "eq", 3), bad]}) is True
    with pytest.raises(EvaluationError):
        check({"any": [atom("payload.n", "eq", 4), bad]})


def test_roots_collects_every_root_referenced():
    cond = parse_condition(
        {
            "all": [
                atom("payload.a", "exists"),
                {"not": {"any": [atom("context.b", "exists"), atom("config.c", "exists")]}},
            ]
        }
    )
    assert cond.roots() == frozenset({"payload", "context", "config"})
    assert parse_condition(atom("payload", "exists")).roots() == frozenset({"payload"})


def test_parsed_conditions_are_values():
    raw = {"any": [atom("payload.kind", "regex", "v.*"), atom("payload.n", "in", [1, 2])]}
    assert parse_condition(raw) == parse_condition(raw)
    assert hash(parse_condition(raw)) == hash(parse_condition(raw))  # list and object values stay hashable
    assert (
        len(
            {parse_condition(atom("payload.o", "eq", {"a": [1]})), parse_condition(atom("payload.o", "eq", {"a": [1]}))}
        )
        == 1
    )


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("payload.x", "condition must be a mapping"),
        ({}, "condition must have exactly one of path (with op and value), all, any or not (found: none)"),
        ({"path": "payload.x", "op": "exists", "all": []}, "exactly one of"),
        ({"all": [], "any": []}, "(found: all, any)"),
        ({"all": []}, "all must be a non-empty list of conditions"),
        ({"any": []}, "any must be a non-empty list of conditions"),
        ({"all": atom("payload.x", "exists")}, "all must be a non-empty list"),
        ({"path": "state.x", "op": "exists"}, 'unsupported path root "state"'),
        ({"path": "payload..x", "op": "exists"}, "path segments must be non-empty"),
        ({"path": 3, "op": "exists"}, "path must be a string"),
        ({"path": "payload.x"}, "op must be one of exists, eq, neq, in, gt, gte, lt, lte, contains"),
        ({"path": "payload.x", "op": "like", "value": 1}, "(got 'like')"),
        ({"path": "payload.x", "op": "eq"}, "op eq requires a value"),
        ({"path": "payload.x", "op": "regex"}, "op regex requires a value"),
        (atom("payload.x", "in", "abc"), "in requires a list value, got string"),
        (atom("payload.x", "gt", "3"), "gt requires a number value, got string"),
        (atom("payload.x", "lte", True), "lte requires a number value, got boolean"),
        (atom("payload.x", "contains", 3), "contains requires a string value, got number"),
        (atom("payload.x", "startswith", None), "startswith requires a string value, got null"),
        (atom("payload.x", "regex", ["a"]), "regex requires a string value, got array"),
        (atom("payload.x", "regex", "a("), 'invalid regex "a("'),
        (atom("payload.x", "regex", r"(a)\1"), "backreference"),
        (atom("payload.x", "eq", {1, 2}), "value must be JSON"),
        (atom("payload.x", "gt", float("nan")), "value must be a finite number"),
        (atom("payload.x", "in", [1, float("inf")]), "value must be a finite number"),
        (
            {"any": [nested_not(MAX_DEPTH)]},
            "any[0]: not: not: not: not: not: not: not: not: not: not: not: not: not: not: not: condition too deep",
        ),
        (
            {"all": [atom("payload.x", "exists"), {"not": {"path": "x.y", "op": "exists"}}]},
            'all[1]: not: unsupported path root "x"',
        ),
        ({"any": [{"all": [atom("payload.x", "in", 1)]}]}, "any[0]: all[0]: in requires a list value"),
    ],
)
def test_load_errors(raw, fragment):
    with pytest.raises(ConditionError) as info:
        parse_condition(raw)
    assert fragment in str(info.value)


def test_exists_ignores_value_and_op_is_trimmed():
    assert check({"path": "payload.n", "op": " exists ", "value": "whatever"}) is True


def test_yaml_dates_compare_as_their_text():
    cond = parse_condition(atom("payload.day", "eq", dt.date(2024, 1, 2)))
    assert evaluate(cond, {"payload": {"day": "2024-01-02"}}) is True


def test_explicit_null_value_is_allowed_for_eq():
    assert check(atom("payload.nothing", "eq", None)) is True
    assert check(atom("payload.kind", "neq", None)) is True


def test_depth_limit():
    parse_condition(nested_not(MAX_DEPTH))
    with pytest.raises(ConditionError, match="condition too deep"):
        parse_condition(nested_not(MAX_DEPTH + 1))


def test_size_limit():
    parse_condition({"all": [atom("payload.n", "exists")] * MAX_ATOMS})
    with pytest.raises(ConditionError, match="condition too large"):
        parse_condition({"all": [atom("payload.n", "exists")] * (MAX_ATOMS + 1)})
    with pytest.raises(ConditionError, match="condition too large"):
        parse_condition(
            {"any": [{"all": [atom("payload.n", "exists")] * 40}, {"all": [atom("payload.n", "exists")] * 25}]}
        )
