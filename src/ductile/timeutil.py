"""One time format for the whole runtime: RFC 3339 UTC with microseconds and a `Z`.

Fixed width, so stored timestamps sort as text in the same order as in time.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta

FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_text(moment: datetime) -> str:
    # Not strftime: its %Y does not zero-pad years below 1000, which would break the fixed width.
    # `isoformat` pads every field (year to 4 digits) and, with timespec, always writes the
    # microseconds: `YYYY-MM-DDTHH:MM:SS.ffffff+00:00`, the `+00:00` becoming `Z`. Several stamps
    # are written per job, and this is ~4x cheaper than formatting the seven fields one by one.
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return moment.isoformat(timespec="microseconds")[:-6] + "Z"


def from_text(text: str) -> datetime:
    """Read our own format and any RFC 3339 variant a caller may send (`+00:00`, no fraction)."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no timezone (accepted: RFC 3339, e.g. 2026-11-29T10:00:00Z)")
    return moment.astimezone(UTC)


# RFC 3339 date-time as Go's time.Time unmarshals it: T separator, seconds, optional fraction, Z or
# an offset. `datetime.fromisoformat` alone also takes dates without time or zone.
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def is_rfc3339(text: str) -> bool:
    """Whether `text` is an RFC 3339 timestamp (a stored event's `timestamp` must be, §7.5)."""
    if not _RFC3339.fullmatch(text):
        return False
    try:
        from_text(text)
    except ValueError:
        return False
    return True


def add_seconds(moment: datetime, seconds: float) -> datetime:
    return moment + timedelta(seconds=seconds)


def local_zone_name(env: dict[str, str] | None = None) -> str:
    """The host's IANA zone, where a `cron` schedule without `timezone` runs (as Ductile does).

    $TZ first, then the /etc/localtime link; UTC when neither names a zone we can load. A name
    (not a fixed offset) so daylight saving time is followed.
    """
    from zoneinfo import ZoneInfo

    env = os.environ if env is None else env
    candidates = [env.get("TZ", "").lstrip(":")]
    try:
        target = os.path.realpath("/etc/localtime")
        if "zoneinfo/" in target:
            candidates.append(target.split("zoneinfo/", 1)[1])
    except OSError:
        pass
    try:
        candidates.append(open("/etc/timezone", encoding="utf-8").read().strip())  # noqa: SIM115
    except OSError:
        pass
    for name in candidates:
        if not name:
            continue
        try:
            ZoneInfo(name)
        except (ValueError, KeyError, OSError):
            continue
        return name
    return "UTC"
