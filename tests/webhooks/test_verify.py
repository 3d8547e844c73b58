"""`ductile.webhooks.verify`: the signature and replay rules, with `now` passed in (§7.4, §7.6)."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from ductile.webhooks.verify import Reason, Rules, check, parse_timestamp, signature_matches, signed_message

NOW = datetime(2026, 11, 29, 10, 0, 0, tzinfo=UTC)
SECRET = b"s3cret"
BODY = b'{"a":1}'
HEX = hmac.new(SECRET, BODY, hashlib.sha256).hexdigest()


def test_the_spec_example_with_and_without_prefix() -> None:
    assert signature_matches(SECRET, BODY, f"sha256={HEX}")
    assert signature_matches(SECRET, BODY, HEX)
    assert signature_matches(SECRET, BODY, HEX.upper())
    assert signature_matches(SECRET, BODY, f"sha256={HEX.upper()}")


@pytest.mark.parametrize(
    "value",
    [
        f"SHA256={HEX}",  # the prefix is exact and lowercase
        f"sha256=sha256={HEX}",  # stripped once
        f"sha1={HEX}",
        HEX[:-1],  # odd length
        HEX[:-2],  # right hex, wrong length
        HEX + "00",
        HEX[:10] + " " + HEX[11:],  # bytes.fromhex would skip spaces; a signature has none
        "zz" * 32,
        "",
    ],
)
def test_anything_else_fails(value: str) -> None:
    assert not signature_matches(SECRET, BODY, value)


def test_wrong_secret_tampered_body_and_empty_secret_fail() -> None:
    assert not signature_matches(b"other", BODY, HEX)
    assert not signature_matches(SECRET, BODY + b" ", HEX)
    empty = hmac.new(b"", BODY, hashlib.sha256).hexdigest()
    assert not signature_matches(b"", BODY, empty)


def test_timestamp_dot_body_is_what_stripe_and_slack_sign() -> None:
    assert signed_message(BODY, "1700000000", "timestamp.body") == b"1700000000." + BODY
    assert signed_message(BODY, "1700000000", "body") == BODY


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1764410400", datetime(2025, 11, 29, 10, 0, tzinfo=UTC)),
        (" 1764410400 ", datetime(2025, 11, 29, 10, 0, tzinfo=UTC)),
        ("2026-11-29T10:00:00Z", NOW),
        ("2026-11-29T11:00:00+01:00", NOW),
        ("2026-11-29T10:00:00.5Z", NOW + timedelta(milliseconds=500)),
        ("2026-11-29", None),  # a date is not a moment
        ("2026-11-29T10:00:00", None),  # no zone
        ("-5", None),
        ("1.5e9", None),
        ("yesterday", None),
    ],
)
def test_timestamps_are_unix_seconds_or_rfc3339(text: str, expected: datetime | None) -> None:
    assert parse_timestamp(text) == expected


def rules(**kw: object) -> Rules:
    return Rules(secret=SECRET, **kw)  # type: ignore[arg-type]


def test_check_order_and_reasons() -> None:
    plain = rules()
    assert check(plain, BODY, None, None, now=NOW) is Reason.MISSING_SIGNATURE
    assert check(plain, BODY, "", None, now=NOW) is Reason.MISSING_SIGNATURE
    assert check(plain, BODY, "00", None, now=NOW) is Reason.BAD_SIGNATURE
    assert check(plain, BODY, HEX, None, now=NOW) is None
    windowed = rules(timestamp_header=True, max_skew=300.0)
    ts = str(int(NOW.timestamp()))
    assert check(windowed, BODY, HEX, ts, now=NOW) is None
    assert check(windowed, BODY, HEX, ts, now=NOW + timedelta(seconds=300)) is None  # the edge is inside
    assert check(windowed, BODY, HEX, ts, now=NOW + timedelta(seconds=301)) is Reason.STALE_TIMESTAMP
    assert check(windowed, BODY, HEX, ts, now=NOW - timedelta(seconds=301)) is Reason.STALE_TIMESTAMP
    assert check(windowed, BODY, HEX, None, now=NOW) is Reason.STALE_TIMESTAMP
    assert check(windowed, BODY, "00", ts, now=NOW) is Reason.BAD_SIGNATURE  # signature before freshness


def test_timestamp_body_signs_the_timestamp_too() -> None:
    stripe = rules(timestamp_header=True, signed_payload="timestamp.body")
    ts = str(int(NOW.timestamp()))
    good = hmac.new(SECRET, f"{ts}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert check(stripe, BODY, good, ts, now=NOW) is None
    assert check(stripe, BODY, HEX, ts, now=NOW) is Reason.BAD_SIGNATURE  # body-only signature
    other = str(int(NOW.timestamp()) + 1)  # a replay with a fresh timestamp breaks the signature
    assert check(stripe, BODY, good, other, now=NOW) is Reason.BAD_SIGNATURE
    assert check(stripe, BODY, good, None, now=NOW) is Reason.STALE_TIMESTAMP


def test_the_secret_stays_out_of_reprs() -> None:
    assert "s3cret" not in repr(rules())
