"""Property tests for `with` templates and number formatting."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from ductile.pipelines.paths import format_number
from ductile.pipelines.template import Ref, format_scalar, parse_template, render

from .strategies import json_values, keys, relaxed

literals = st.text(max_size=10).filter(lambda s: "{" not in s and "}" not in s)


@relaxed()
@given(json_values)
def test_single_reference_returns_the_value_unchanged(value):
    out = render(parse_template("{payload.v}"), {"payload": {"v": value}})
    assert out == value
    assert type(out) is type(value)


@relaxed()
@given(literals)
def test_text_without_braces_is_literal(text):
    t = parse_template(text)
    assert t.parts == ((text,) if text else ())
    assert render(t, {}) == text


@relaxed()
@given(
    st.lists(st.one_of(literals.map(lambda s: ("lit", s)), keys.map(lambda k: ("ref", k))), max_size=6),
    st.dictionaries(keys, json_values),
)
def test_parse_is_stable_and_render_concatenates_formatted_values(pieces, payload):
    text = "".join(s if kind == "lit" else "{payload." + s + "}" for kind, s in pieces)
    t = parse_template(text)
    # Parsing the text again gives the same structure (adjacent literals of the input merge into one part).
    assert parse_template(text) == t
    assert "".join(p if isinstance(p, str) else "{" + p.text + "}" for p in t.parts) == text
    refs = [s for kind, s in pieces if kind == "ref"]
    assert [r.path for r in t.refs] == [("payload", k) for k in refs]
    if any(k not in payload for k in refs):
        return
    out = render(t, {"payload": payload})
    if len(t.parts) == 1 and isinstance(t.parts[0], Ref):
        assert out == payload[refs[0]]
    else:
        expected = "".join(s if kind == "lit" else format_scalar(payload[s]) for kind, s in pieces)
        assert out == expected
        if "{" not in out and "}" not in out:
            assert render(parse_template(out), {}) == out  # rendered text is a fixed point


@relaxed()
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_format_number_round_trips_and_uses_exponents_only_at_the_edges(x):
    text = format_number(x)
    assert float(text) == x
    magnitude = abs(x)
    assert ("e" in text) is (magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21))
    if x == math.floor(x) and magnitude < 1e21:
        assert "." not in text and "e" not in text
    assert len(text.lstrip("-").replace(".", "").split("e")[0].strip("0")) <= 17  # shortest digits


@relaxed()
@given(st.integers(-(10**20), 10**20))
def test_integers_print_exactly(n):
    assert format_number(n) == str(n)
    assert format_scalar(n) == str(n)
