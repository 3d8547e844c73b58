"""The request-body rule (ductile.api.jsonio): depth measured without recursion, Unicode judged."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ductile.api import jsonio
from ductile.config import ApiConfig

TEXT = st.text(alphabet=st.sampled_from('ab"\\[]{}:,\u00e9\U0001f600 \n'), max_size=8)
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | TEXT,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(TEXT, children, max_size=3),
    max_leaves=30,
)


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


@given(VALUES)
def test_depth_matches_the_structure_whatever_the_strings_hold(value: Any) -> None:
    text = json.dumps(value, ensure_ascii=False)
    assert jsonio.nesting_depth(text) == _depth(value)
    assert jsonio.decode(text.encode()) == value


def test_depth_of_pathological_inputs_does_not_recurse() -> None:
    assert jsonio.nesting_depth("[" * 1_000_000) == 1_000_000
    assert jsonio.nesting_depth('"' + "[" * 1000 + '"') == 0
    with pytest.raises(jsonio.BodyProblem) as caught:
        jsonio.decode(b"[" * 1_000_000)
    assert caught.value.status == 400 and "1000000 levels" in caught.value.message


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (b'"\\ud800"', "invalid Unicode in body"),
        (b'{"a": ["\\udfff"]}', "invalid Unicode in body['a'][0]"),
        (b'{"\\ud800": 1}', "invalid Unicode in body key '\\ud800'"),
    ],
)
def test_lone_surrogates_are_named(raw: bytes, needle: str) -> None:
    with pytest.raises(jsonio.BodyProblem) as caught:
        jsonio.decode(raw)
    assert caught.value.status == 400 and needle in caught.value.message
    json.dumps(caught.value.message, ensure_ascii=False).encode()  # the answer itself encodes


@pytest.mark.parametrize(
    ("ctype", "ok"),
    [
        (None, True),
        ("application/json", True),
        ("application/json; charset=utf-8", True),
        ("application/vnd.api+json", True),
        ("text/plain", False),
        ("application/x-www-form-urlencoded", True),  # curl -d: a JSON body is JSON
    ],
)
def test_content_types(ctype: str | None, ok: bool) -> None:
    if ok:
        assert jsonio.decode(b"{}", ctype) == {}
    else:
        with pytest.raises(jsonio.BodyProblem) as caught:
            jsonio.decode(b"{}", ctype)
        assert caught.value.status == 415
    assert jsonio.decode(b"  ", ctype) is None  # no body: the type does not matter


def test_http_limit_defaults_are_the_documented_ones() -> None:
    api = ApiConfig()
    assert (api.idle_timeout, api.read_timeout) == (5.0, 30.0)
    assert (api.max_connections, api.max_header_count, api.max_header_bytes, api.max_url_bytes) == (
        256,
        100,
        16384,
        8192,
    )


def test_curl_default_form_type_with_a_json_body_is_json() -> None:
    """`curl -d '{...}'` labels JSON as a form; Ductile ignores the type, so do we for JSON bodies."""
    assert jsonio.decode(b'{"payload": {"a": 1}}', "application/x-www-form-urlencoded") == {"payload": {"a": 1}}
    with pytest.raises(jsonio.BodyProblem) as caught:
        jsonio.decode(b"a=1&b=2", "application/x-www-form-urlencoded")
    assert caught.value.status == 415
