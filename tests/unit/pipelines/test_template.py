"""`with:` templates (§4.3): parse errors, typed single references, formatting, snapshot semantics."""

from __future__ import annotations

import pytest

from ductile.pipelines.template import (
    Ref,
    Template,
    TemplateError,
    WithError,
    apply_with,
    format_scalar,
    parse_template,
    parse_with,
    render,
)

SCOPES = {
    "payload": {
        "count": 3,
        "ratio": 2.5,
        "big": 1e21,
        "title": "Hi",
        "ok": True,
        "none": None,
        "obj": {"b": [1, "x"], "a": None},
        "list": [1, 2.0, "z"],
    },
    "context": {"ductile_plugin": "p", "run": {"first": 1}},
}


def test_parse_splits_literals_and_references():
    t = parse_template("Hello {payload.title}, n={ payload.count }!")
    assert t.parts == (
        "Hello ",
        Ref("payload.title", ("payload", "title")),
        ", n=",
        Ref("payload.count", ("payload", "count")),
        "!",
    )
    assert [r.text for r in t.refs] == ["payload.title", "payload.count"]
    assert parse_template("").parts == ()
    assert parse_template("payload.x").parts == ("payload.x",)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a}b", 'unexpected } in template "a}b"'),
        ("{payload.x}}", 'unexpected } in template "{payload.x}}"'),
        ("}{payload.x}", 'unexpected } in template "}{payload.x}"'),
        ("{payload.x", 'unclosed { in template "{payload.x"'),
        ("x {", 'unclosed { in template "x {"'),
        ("{a{b}", 'nested { in template "{a{b}"'),
        ("{}", 'empty template path in "{}"'),
        ("a { } b", 'empty template path in "a { } b"'),
    ],
)
def test_parse_errors(text, message):
    with pytest.raises(TemplateError) as info:
        parse_template(text)
    assert str(info.value) == message


def test_non_string_template_is_rejected():
    with pytest.raises(TemplateError, match="template must be a string"):
        parse_template(3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("{payload.count}", 3),
        ("{payload.ratio}", 2.5),
        ("{payload.ok}", True),
        ("{payload.none}", None),
        ("{payload.obj}", {"b": [1, "x"], "a": None}),
        ("{ payload.list }", [1, 2.0, "z"]),
        ("{context.run.first}", 1),
        ("{payload}", SCOPES["payload"]),
        ("payload.title", "payload.title"),  # no braces: literal text
        ("", ""),
    ],
)
def test_single_reference_keeps_its_json_type(text, value):
    out = render(parse_template(text), SCOPES)
    assert out == value
    assert type(out) is type(value)


def test_single_reference_is_a_copy():
    scopes = {"payload": {"obj": {"a": [1]}}}
    out = render(parse_template("{payload.obj}"), scopes)
    out["a"].append(2)
    assert scopes["payload"]["obj"] == {"a": [1]}


@pytest.mark.parametrize(
    ("text", "rendered"),
    [
        ("n={payload.count}", "n=3"),
        ("r={payload.ratio}", "r=2.5"),
        ("b={payload.big}", "b=1e+21"),
        ("{payload.ok}!", "true!"),
        ("[{payload.none}]", "[]"),
        ("{payload.title} {payload.title}", "Hi Hi"),
        ("o={payload.obj}", 'o={"a":null,"b":[1,"x"]}'),
        ("l={payload.list}", 'l=[1,2,"z"]'),
        ("{payload.count}{payload.ratio}", "32.5"),
    ],
)
def test_text_formatting(text, rendered):
    assert render(parse_template(text), SCOPES) == rendered


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("s", "s"),
        (3, "3"),
        (3.0, "3"),
        (2.5, "2.5"),
        (1e21, "1e+21"),
        (1234567.0, "1234567"),
        (True, "true"),
        (False, "false"),
        (None, ""),
        ({"b": 1, "a": [True, None]}, '{"a":[true,null],"b":1}'),
        ([], "[]"),
        ({"x": float("nan")}, '{"x":NaN}'),
        (float("inf"), "+Inf"),
    ],
)
def test_format_scalar(value, text):
    assert format_scalar(value) == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{payload.missing}", 'resolve "payload.missing": path not found'),
        ("x {payload.title.deeper} y", 'resolve "payload.title.deeper": path not found'),
        ("{config.x}", 'resolve "config.x": path not found'),  # `with` has no config scope
        ("{state.x}", 'resolve "state.x": unsupported path root "state"'),
        ("{payload..x}", 'resolve "payload..x": path segments must be non-empty'),
    ],
)
def test_resolution_errors(text, message):
    t = parse_template(text)  # parses: paths are checked when rendered, as in Ductile
    with pytest.raises(TemplateError) as info:
        render(t, SCOPES)
    assert str(info.value).startswith(message)


def test_apply_with_sorted_keys_on_a_copy_reading_one_snapshot():
    payload = {"a": 1, "b": 2, "keep": "k"}
    with_map = {
        "b": parse_template("{payload.a}"),  # reads the snapshot's a, not the new one
        "a": parse_template("{payload.b}"),
        "c": parse_template("{payload.c}-{context.who}"),
    }
    with pytest.raises(WithError) as info:
        apply_with(with_map, payload, {"who": "me"})
    assert info.value.key == "c"
    assert info.value.reason == 'resolve "payload.c": path not found'
    assert str(info.value) == 'c: resolve "payload.c": path not found'

    with_map["c"] = parse_template("{payload.a}-{context.who}")
    result = apply_with(with_map, payload, {"who": "me"})
    assert result == {"a": 2, "b": 1, "c": "1-me", "keep": "k"}
    assert payload == {"a": 1, "b": 2, "keep": "k"}  # input untouched


def test_apply_with_error_comes_from_the_first_failing_key_in_sorted_order():
    with_map = {"z": parse_template("{payload.nope}"), "m": parse_template("{payload.nope2}")}
    with pytest.raises(WithError) as info:
        apply_with(with_map, {}, {})
    assert info.value.key == "m"


def test_template_is_a_frozen_value():
    t = parse_template("a{payload.x}")
    assert t == Template("a{payload.x}", ("a", Ref("payload.x", ("payload", "x"))))
    with pytest.raises(AttributeError):
        t.text = "b"  # type: ignore[misc]


def test_parse_with_turns_yaml_scalars_into_template_text():
    parsed = parse_with({"n": 3, "f": 2.5, "b": True, "z": None, "t": "{payload.x}", "s": "plain"})
    assert {k: t.text for k, t in parsed.items()} == {
        "n": "3",
        "f": "2.5",
        "b": "true",
        "z": "",
        "t": "{payload.x}",
        "s": "plain",
    }
    assert parse_with(None) == {}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (["a"], "with must be a mapping"),
        ({"k": {"a": 1}}, "with.k must be a template string"),
        ({"k": [1]}, "with.k must be a template string"),
        ({"k": "{payload.x"}, 'with.k: unclosed { in template "{payload.x"'),
    ],
)
def test_parse_with_errors(raw, message):
    with pytest.raises(TemplateError) as info:
        parse_with(raw)
    assert message in str(info.value)
