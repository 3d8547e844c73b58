"""Duration strings (`30s`, `5m`, `1h30m`, `2d`) as used across the config.

Kept separate from config so schedules, retries and the API share one parser and one error text.
"""

from __future__ import annotations

import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
NAMED_INTERVALS = {"hourly": 3600.0, "daily": 86400.0, "weekly": 604800.0, "monthly": 30 * 86400.0}
ACCEPTED = "a number with a unit ms/s/m/h/d/w, combinable: 500ms, 30s, 5m, 1h30m, 2d"


class DurationError(ValueError):
    """A duration string that cannot be read; the message says what is accepted."""


def parse_duration(value: object, *, allow_named: bool = False, allow_zero: bool = False) -> float:
    """Return seconds. Bare numbers are seconds, so YAML `timeout: 30` works as people expect."""
    accepted = ACCEPTED + (" or hourly|daily|weekly|monthly" if allow_named else "")
    if isinstance(value, bool):
        raise DurationError(f"invalid duration {value!r} (accepted: {accepted})")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        if allow_named and text in NAMED_INTERVALS:
            return NAMED_INTERVALS[text]
        pos = 0
        seconds = 0.0
        for match in _PART.finditer(text):
            if match.start() != pos:
                break
            seconds += float(match.group(1)) * _UNITS[match.group(2)]
            pos = match.end()
        if not text or pos != len(text):
            raise DurationError(f"invalid duration {value!r} (accepted: {accepted})")
    else:
        raise DurationError(f"invalid duration {value!r} (accepted: {accepted})")
    if seconds < 0 or (seconds == 0 and not allow_zero):
        raise DurationError(f"duration {value!r} must be greater than zero (accepted: {accepted})")
    return seconds


def format_duration(seconds: float) -> str:
    """Render seconds back in the config's own notation, for `config show` and messages."""
    if seconds == 0:
        return "0s"
    if seconds < 1 or (seconds != int(seconds) and seconds < 60):
        return f"{round(seconds * 1000)}ms"
    out = []
    rest = int(round(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            out.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(out) or "0s"
