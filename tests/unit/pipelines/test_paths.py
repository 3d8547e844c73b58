from __future__ import annotations

import pytest

from ductile.pipelines.paths import (
    MISSING,
    PathError,
    compact_json,
    format_number,
    json_equal,
    json_type,
    parse_path,
    resolve,
)


def test_parse_path_splits_and_trims():
    assert parse_path(" payload.a.b ") == ("payload", "a", "b")
    assert parse_path("context") == ("context",)
    assert parse_path("config.x") == ("config", "x")


@pytest.mark.parametrize("text", ["payload..a", "payload.", ".payload", "", "payload. .x"])
def test_empty_segments_are_rejected(text):
    with pytest.raises(PathError, match="path segments must be non-empty"):
        parse_path(text)


def test_unsupported_root_names_the_root_and_the_accepted_ones():
    with pytest.raises(PathError, match='unsupported path root "state"') as info:
        parse_path("state.flag")
    assert "payload, context, config" in str(info.value)
    with pytest.raises(PathError, match='unsupported path root "config"'):
        parse_path("config.x", roots=("payload", "context"))


def test_non_string_path_is_rejected():
    with pytest.raises(PathError, match="path must be a string"):
        parse_path(5)  # type: ignore[arg-type]


def test_resolve_walks_objects_and_reports_absence():
    scopes = {"payload": {"a": {"b": 2, "n": None}, "s": "x", "l": [1]}, "context": {}}
    assert resolve(("payload", "a", "b"), scopes) == 2
    assert resolve(("payload", "a", "n"), scopes) is None  # present null
    assert resolve(("payload", "a", "zz"), scopes) is MISSING
    assert resolve(("payload", "s", "x"), scopes) is MISSING  # non-object on the way
    assert resolve(("payload", "l", "0"), scopes) is MISSING  # arrays are not walked
    assert resolve(("config", "x"), scopes) is MISSING  # root absent
    assert resolve(("config",), scopes) is MISSING
    assert resolve(("context",), scopes) == {}  # bare root present iff the object exists
    assert resolve(("payload",), {"payload": None}) is MISSING


def test_missing_is_a_falsy_singleton():
    assert not MISSING
    assert repr(MISSING) == "MISSING"
    assert type(MISSING)() is MISSING


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        (1, 1.0, True),
        (True, 1, False),
        (False, 0, False),
        (True, True, True),
        (None, None, True),
        (None, 0, False),
        ("1", 1, False),
        ([1, {"a": 2.0}], [1.0, {"a": 2}], True),
        ([1, 2], [2, 1], False),
        ({"a": 1}, {"a": 1, "b": 2}, False),
        ([True], [1], False),
        ((1, 2), [1, 2], True),
    ],
)
def test_json_equal(a, b, equal):
    assert json_equal(a, b) is equal
    assert json_equal(b, a) is equal


@pytest.mark.parametrize(
    ("value", "name"),
    [(None, "null"), (True, "boolean"), (1, "number"), (1.5, "number"), ("s", "string"), ([], "array"), ({}, "object")],
)
def test_json_type(value, name):
    assert json_type(value) == name


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (3, "3"),
        (3.0, "3"),
        (-3.0, "-3"),
        (2.5, "2.5"),
        (0.1 + 0.2, "0.30000000000000004"),
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),
        (-1e21, "-1e+21"),
        (1.5e300, "1.5e+300"),
        (10**22, "1e+22"),
        (12345678901234567890, "12345678901234567890"),
        (1234567.0, "1234567"),
        (0.000001, "0.000001"),
        (1e-7, "1e-7"),
        (1.25e-10, "1.25e-10"),
        (0.0, "0"),
        (-0.0, "-0"),
    ],
)
def test_format_number(value, text):
    assert format_number(value) == text


def test_compact_json_sorts_keys_and_keeps_unicode():
    assert compact_json({"b": [1, 2.0, None, True, "é"], "a": {}}) == '{"a":{},"b":[1,2,null,true,"é"]}'
    with pytest.raises(ValueError, match="not a JSON"):
        compact_json(float("nan"))
    with pytest.raises(ValueError, match="not a JSON value"):
        compact_json({1, 2})
