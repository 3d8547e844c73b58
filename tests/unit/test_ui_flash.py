"""The dashboard's one-time notices travel in a cookie signed with the session's CSRF token
(ui/flash.py): what one session wrote, only that session reads; anything else reads as none."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ductile.ui import flash

KEY = "csrf-of-this-session"
RETRIED = {"level": "ok", "text": "Retried as a new job:", "link": "/ui/jobs/abc", "link_text": "abc"}


def test_a_notice_round_trips_under_its_sessions_key() -> None:
    value = flash.encode([RETRIED], KEY)
    assert flash.decode(value, KEY) == [RETRIED]
    assert set(value) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")  # cookie-safe


def test_another_sessions_key_a_tampered_payload_or_signature_read_as_nothing() -> None:
    value = flash.encode([RETRIED], KEY)
    payload, _, signature = value.rpartition(".")
    forged = flash.encode([{**RETRIED, "text": "Your account is locked, call +1 555"}], "attacker-guess")
    assert flash.decode(value, "csrf-of-another-session") == []
    assert flash.decode(forged, KEY) == []
    assert flash.decode(payload[:-2] + "AA." + signature, KEY) == []
    assert flash.decode(payload + "." + "0" * len(signature), KEY) == []
    assert flash.decode(payload, KEY) == [] and flash.decode("", KEY) == [] and flash.decode(None, KEY) == []


def test_only_well_formed_notices_linking_inside_the_dashboard_are_kept() -> None:
    messages = [
        RETRIED,
        {**RETRIED, "link": "https://evil.example/"},
        {**RETRIED, "level": "<script>"},
        {**RETRIED, "extra": "x"},
        {"level": "info", "text": "no link", "link": "", "link_text": ""},
        "not a notice",
    ]
    assert flash.decode(flash.encode(messages, KEY), KEY) == [RETRIED, messages[4]]


@given(st.text(max_size=300), st.text(max_size=40))
def test_no_cookie_value_makes_decoding_fail(value: str, key: str) -> None:
    assert isinstance(flash.decode(value, key), list)


def test_a_signature_with_non_ascii_characters_is_refused_not_an_error() -> None:
    # hmac.compare_digest raises TypeError on non-ASCII str: found by the property above
    assert flash.decode("e30.é", KEY) == []
    good = flash.encode([RETRIED], KEY)
    assert flash.decode(good[:-1] + "ü", KEY) == []
