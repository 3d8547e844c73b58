"""Deciding whether one delivery is authentic (spec pipelines.md §7.3 steps 3-4, §7.4, §7.6).

Pure functions: the listener passes the header values, the body and `now`; nothing here reads a
clock or a socket, so every rule is tested directly. The answer is a `Reason` for the gateway log
only; the client always gets the same `403 {"error":"forbidden"}` whatever failed, so a prober
learns nothing about which part was wrong.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from ductile.timeutil import from_text, is_rfc3339

PREFIX = "sha256="  # GitHub's X-Hub-Signature-256 form; exact and lowercase, as Ductile strips it
_HEX = re.compile(r"[0-9a-fA-F]*")
_UNIX = re.compile(r"[0-9]{1,12}")


class Reason(StrEnum):
    """Why a delivery was refused; logged, never sent to the client."""

    MISSING_SIGNATURE = "missing_signature"
    BAD_SIGNATURE = "bad_signature"
    STALE_TIMESTAMP = "stale_timestamp"


@dataclass(frozen=True)
class Rules:
    """What one endpoint checks: its secret and the optional replay window (§7.6)."""

    secret: bytes
    timestamp_header: bool = False  # a timestamp header is configured (the replay window is on)
    max_skew: float = 300.0  # seconds either side of now
    signed_payload: str = "body"  # "body" | "timestamp.body"

    def __repr__(self) -> str:  # the secret must never reach a log line through a repr
        return f"Rules(secret=***, timestamp_header={self.timestamp_header}, max_skew={self.max_skew})"


def hmac_hex(secret: bytes, message: bytes) -> str:
    """The lowercase hex HMAC-SHA256 a sender puts in the signature header (without prefix)."""
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def signature_matches(secret: bytes, message: bytes, header_value: str) -> bool:
    """§7.4: strip one leading `sha256=`, hex-decode the rest (either case), compare in constant time.

    Invalid hex, a wrong length and an empty secret all fail. The hex is checked with a regex
    first because `bytes.fromhex` would accept spaces, which a signature never contains.
    """
    if not secret:
        return False
    value = header_value.removeprefix(PREFIX)
    if len(value) % 2 or not _HEX.fullmatch(value):
        return False
    given = bytes.fromhex(value)
    expected = hmac.new(secret, message, hashlib.sha256).digest()
    return hmac.compare_digest(given, expected)


def signed_message(body: bytes, timestamp: str | None, signed_payload: str) -> bytes:
    """What the HMAC covers: the raw body, or `<timestamp>.<body>` (Stripe/Slack style, §7.6)."""
    if signed_payload == "timestamp.body":
        return (timestamp or "").encode() + b"." + body
    return body


def parse_timestamp(value: str) -> datetime | None:
    """A timestamp header: unix seconds, or RFC 3339. Anything else → None (refused)."""
    text = value.strip()
    if _UNIX.fullmatch(text):
        return datetime.fromtimestamp(int(text), UTC)
    return from_text(text) if is_rfc3339(text) else None


def within_window(moment: datetime, now: datetime, max_skew: float) -> bool:
    return abs((now - moment).total_seconds()) <= max_skew


def check(rules: Rules, body: bytes, signature: str | None, timestamp: str | None, *, now: datetime) -> Reason | None:
    """None when the delivery is authentic and fresh; otherwise the first reason it is not.

    Order (§7.3, §7.6): a missing or empty signature header; with `timestamp.body` a missing
    timestamp (nothing to verify against); the signature; then the replay window.
    """
    if not signature:
        return Reason.MISSING_SIGNATURE
    if rules.signed_payload == "timestamp.body" and not timestamp:
        return Reason.STALE_TIMESTAMP
    if not signature_matches(rules.secret, signed_message(body, timestamp, rules.signed_payload), signature):
        return Reason.BAD_SIGNATURE
    if rules.timestamp_header:
        moment = parse_timestamp(timestamp) if timestamp else None
        if moment is None or not within_window(moment, now, rules.max_skew):
            return Reason.STALE_TIMESTAMP
    return None
