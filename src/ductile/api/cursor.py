"""Opaque keyset cursors for `GET /jobs`.

A cursor is the (created_at, job_id) of the last row a page returned, so the next page starts
strictly after it: rows inserted meanwhile (always newer) never shift it, unlike an offset.
It is opaque to clients so the encoding can change; a version tag makes old ones fail loudly.
"""

from __future__ import annotations

import base64
import binascii
import json
import re

_VERSION = 1
_STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$")
_MAX_LEN = 512


class CursorError(ValueError):
    """The cursor was not one this server handed out."""


def encode(position: tuple[str, str]) -> str:
    created_at, job_id = position
    raw = json.dumps([_VERSION, created_at, job_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(text: str) -> tuple[str, str]:
    """Raise CursorError for anything that is not a well-formed cursor of this version."""
    if not text or len(text) > _MAX_LEN or not re.fullmatch(r"[A-Za-z0-9_-]+", text):
        raise CursorError("malformed cursor")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise CursorError("malformed cursor")
    if (
        not isinstance(value, list)
        or len(value) != 3
        or value[0] != _VERSION
        or not all(isinstance(v, str) for v in value[1:])
        or not _STAMP.match(value[1])
        or not 0 < len(value[2]) <= 64
    ):
        raise CursorError("malformed cursor")
    return value[1], value[2]
