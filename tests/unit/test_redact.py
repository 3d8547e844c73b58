"""The one redaction rule (`ductile.redact`): which keys are secret-like, what free text loses, and
properties over random nested JSON: no secret survives, nothing else changes, the shape stays."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ductile.redact import MASK, MAX_DEPTH, is_secret_key, redact, redact_fields, redact_text

SECRET_KEYS = [
    "access_token", "refreshToken", "TOKEN", "id-token", "client_secret", "password", "Password", "db_passwd",
    "pass", "user_pwd", "api_key", "apikey", "APIKey", "apiKeys", "privateKey", "private_key", "key", "keys",
    "sort_key", "credentials", "Authorization", "auth", "Cookie", "set-cookie", "session", "X-Session-Id",
    "prompt_tokens", "config.api_key",
]  # fmt: skip
PLAIN_KEYS = [
    "keyword", "keyboard", "keynote", "monkey", "turkey", "hockey", "whiskey", "author", "message", "result",
    "cursor", "count", "name", "user", "expires_at", "passenger", "compass", "bypass_cache", "oauth", "id",
]  # fmt: skip


@pytest.mark.parametrize("key", SECRET_KEYS)
def test_secret_like_keys(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize("key", PLAIN_KEYS)
def test_ordinary_keys(key: str) -> None:
    assert not is_secret_key(key)


def test_values_under_secret_keys_are_masked_whole_at_any_depth() -> None:
    data = {
        "account": "bob",
        "list": [{"deep": [{"password": "p", "kind": "login"}]}],
        "credentials": {"user": "bob", "pw": "x"},  # a whole object under a secret key
        "tokens": ["a", "b"],
        "pin_code": 1234,
        "api_key": 42,
    }
    assert redact(data) == {
        "account": "bob",
        "list": [{"deep": [{"password": MASK, "kind": "login"}]}],
        "credentials": MASK,
        "tokens": MASK,
        "pin_code": 1234,
        "api_key": MASK,
    }


def test_absence_and_booleans_stay_visible() -> None:
    data = {"refresh_token": None, "access_token": "", "keys": [], "session": {}, "token_valid": True}
    assert redact(data) == data


def test_name_value_pairs_mask_the_value() -> None:
    env = [{"name": "API_KEY", "value": "k1"}, {"name": "HOME", "value": "/root"}, {"key": "Password", "value": 7}]
    assert redact(env) == [
        {"name": "API_KEY", "value": MASK},
        {"name": "HOME", "value": "/root"},
        {"key": MASK, "value": MASK},
    ]


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("Authorization: Bearer abc.def-123", "Authorization: Bearer ***"),
        ("retrying with bearer abc", "retrying with bearer ***"),
        (
            "token refresh failed: refresh_token=rt_1 was rejected",
            "token refresh failed: refresh_token=*** was rejected",
        ),
        ('{"access_token": "a b c", "n": 1}', '{"access_token": "***", "n": 1}'),
        ("password='x y' and api_key = zz==", "password='***' and api_key = ***"),
        ("postgres://bob:hunter2@db/app", "postgres://bob:***@db/app"),
        ("postgres://bob:p@ss@db/app", "postgres://bob:***@db/app"),
        ("see https://x.org:8080/a@b", "see https://x.org:8080/a@b"),
        ("Authorization: Basic Ym9iOnB3", "Authorization: Basic ***"),
        ("at 2026-11-29T10:00:07Z keyword: cat, count=3", "at 2026-11-29T10:00:07Z keyword: cat, count=3"),
        ("login failed for hunter2", "login failed for hunter2"),  # names no key: not recognisable
        ("", ""),
    ],
)
def test_free_text(text: str, shown: str) -> None:
    assert redact_text(text) == shown


def test_strings_inside_data_get_the_text_rule() -> None:
    assert redact({"logs": [{"message": "using access_token=at_1"}]}) == {
        "logs": [{"message": "using access_token=***"}]
    }


def test_nesting_beyond_the_limit_is_masked_not_walked() -> None:
    deep: Any = "leaf"
    for _ in range(MAX_DEPTH * 3):
        deep = {"a": [deep]}
    out = redact(deep)
    assert json.dumps(out).count(MASK) == 1
    assert "leaf" not in json.dumps(out)


def test_long_text_without_separators_is_linear() -> None:
    # a quadratic scan would take minutes here; this completes in milliseconds
    text = "a" * 2_000_000 + "=b"
    assert redact_text(text) == text


def test_redact_fields_leaves_the_gateways_own_fields() -> None:
    record = {"dedupe_key": "schedule:x", "result": {"api_key": "k"}, "error": "token: t"}
    assert redact_fields(record, ("result", "error")) == {
        "dedupe_key": "schedule:x",
        "result": {"api_key": MASK},
        "error": "token: ***",
    }


# --- properties over random nested JSON ---------------------------------------------------------

# Words the text rule never touches: no separator, no "bearer", no URL.
PLAIN_TEXT = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789 _-", max_size=12).filter(
    lambda s: "bearer" not in s
)
PLAIN_KEY = st.sampled_from([*PLAIN_KEYS, "data", "items", "value_x", "n"])
SECRET_KEY = st.sampled_from(SECRET_KEYS)
SECRET_VALUE = st.builds(lambda n: f"SECRET{n:06d}X", st.integers(0, 999_999))
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(-(10**6), 10**6), PLAIN_TEXT)


def _secret_subtree() -> st.SearchStrategy[Any]:
    """A value to put under a secret key: a secret string or number, or a container holding some."""
    leaf = st.one_of(SECRET_VALUE, st.integers(1, 10**6))
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.lists(inner, min_size=1, max_size=3),
            st.dictionaries(st.one_of(PLAIN_KEY, SECRET_KEY), inner, min_size=1, max_size=3),
        ),
        max_leaves=6,
    )


def _document() -> st.SearchStrategy[Any]:
    def extend(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.one_of(
            st.lists(inner, max_size=4),
            st.dictionaries(PLAIN_KEY, inner, max_size=4),
            # a dict with at least one secret key next to plain ones
            st.builds(
                lambda plain, key, secret: {**plain, key: secret},
                st.dictionaries(PLAIN_KEY, inner, max_size=3),
                SECRET_KEY,
                _secret_subtree(),
            ),
        )

    return st.recursive(SCALAR, extend, max_leaves=40)


def _secrets_in(value: Any, under_secret: bool = False) -> set[str]:
    """Every plaintext planted under a secret key (strings and numbers, as text)."""
    if isinstance(value, dict):
        out: set[str] = set()
        for k, v in value.items():
            out |= _secrets_in(v, under_secret or is_secret_key(k))
        return out
    if isinstance(value, list):
        return set().union(*(_secrets_in(v, under_secret) for v in value)) if value else set()
    if under_secret and isinstance(value, str) and value.startswith("SECRET"):
        return {value}
    return set()


def _check_shape(before: Any, after: Any, key: str = "") -> None:
    """Outside secret keys: same keys, same list lengths, same non-secret values."""
    if key and is_secret_key(key) and before not in (None, "", {}, []) and not isinstance(before, bool):
        assert after == MASK
        return
    if isinstance(before, dict):
        assert isinstance(after, dict) and list(after) == list(before)
        for k in before:
            _check_shape(before[k], after[k], str(k))
    elif isinstance(before, list):
        assert isinstance(after, list) and len(after) == len(before)
        for b, a in zip(before, after, strict=True):
            _check_shape(b, a)
    else:
        assert after == before


@settings(max_examples=300, deadline=None)
@given(_document())
def test_no_secret_survives_and_everything_else_is_unchanged(doc: Any) -> None:
    out = redact(doc)
    text = json.dumps(out)
    for secret in _secrets_in(doc):
        assert secret not in text
    _check_shape(doc, out)


@settings(max_examples=200, deadline=None)
@given(_document())
def test_redaction_is_idempotent_and_leaves_the_input_alone(doc: Any) -> None:
    before = json.dumps(doc)
    once = redact(doc)
    assert json.dumps(doc) == before
    assert redact(once) == once


@settings(max_examples=200, deadline=None)
@given(SECRET_KEY, SECRET_VALUE, PLAIN_TEXT, st.sampled_from(["=", ": ", " = ", ":"]))
def test_key_value_in_text_is_masked(key: str, secret: str, prefix: str, sep: str) -> None:
    text = f"{prefix} {key}{sep}{secret} done"
    out = redact_text(text)
    assert secret not in out and out.endswith(f"{key}{sep}{MASK} done")
