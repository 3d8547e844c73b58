"""Dotted paths into the JSON scopes a pipeline can read (`payload.a.b`, `context.x`, `config.y`).

Shared by conditions, `with` templates and baggage so "absent", "present null" and JSON equality mean
the same thing everywhere (spec pipelines.md §2.5).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

ROOTS: Final = ("payload", "context", "config")


class PathError(ValueError):
    """A path that cannot be read at load time: an empty segment or a root the site does not offer."""


class _Missing:
    """Absent, as opposed to present-and-null: conditions and templates treat the two differently."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final[Any] = _Missing()


def quote(text: str) -> str:
    """Double-quoted like Go's %q for the texts users write, so messages match Ductile's."""
    return json.dumps(text, ensure_ascii=False)


def parse_path(text: str, roots: tuple[str, ...] = ROOTS) -> tuple[str, ...]:
    """Split `payload.a.b` into segments; the path is trimmed, segments are kept as written."""
    if not isinstance(text, str):
        raise PathError(f"path must be a string such as payload.field, got {json_type(text)}")
    parts = tuple(text.strip().split("."))
    if any(not part.strip() for part in parts):
        raise PathError("path segments must be non-empty")
    if parts[0] not in roots:
        raise PathError(f"unsupported path root {quote(parts[0])} (accepted: {', '.join(roots)})")
    return parts


def resolve(path: tuple[str, ...], scopes: Mapping[str, Any]) -> Any:
    """The value at `path`, or MISSING when a key is absent or a non-object is on the way.

    A root that is absent from `scopes` (or None there, like Go's nil map) is absent itself.
    """
    current = scopes.get(path[0]) if path else None
    if current is None:
        return MISSING
    for segment in path[1:]:
        if not isinstance(current, Mapping) or segment not in current:
            return MISSING
        current = current[segment]
    return current


def is_number(value: Any) -> bool:
    """JSON number: int or float, never bool (Python's True == 1 must not leak into comparisons)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def json_type(value: Any) -> str:
    """The JSON type name used in messages: null, boolean, number, string, array, object."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if is_number(value):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality: 1 == 1.0, True != 1, deep for arrays and objects, different types unequal."""
    if is_number(a) and is_number(b):
        return a == b
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return False


def format_number(value: int | float) -> str:
    """A JSON number as text: exact integers, else shortest round-trip digits in plain notation, switching to
    exponent form only for |x| < 1e-6 or |x| >= 1e21 (Go's encoding/json rule: `3`, `2.5`, `1e+21`, `1e-7`).
    """
    if isinstance(value, int) and abs(value) < 10**21:
        return str(value)
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    sign, digit_tuple, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple))
    prefix = "-" if sign else ""
    magnitude = abs(value)
    if magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21):
        exp = exponent + len(digits) - 1
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{prefix}{mantissa}e{exp:+03d}" if exp >= 0 else f"{prefix}{mantissa}e-{-exp}"
    if exponent >= 0:
        return prefix + digits + "0" * exponent
    point = len(digits) + exponent
    if point > 0:
        return f"{prefix}{digits[:point]}.{digits[point:]}"
    return f"{prefix}0.{'0' * -point}{digits}"


def compact_json(value: Any) -> str:
    """Compact JSON with sorted keys, UTF-8 text kept as is, numbers as `format_number` prints them."""
    if value is None or isinstance(value, bool | str):
        return json.dumps(value, ensure_ascii=False)
    if is_number(value):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{value!r} is not a JSON number")
        return format_number(value)
    if isinstance(value, list | tuple):
        return "[" + ",".join(compact_json(v) for v in value) + "]"
    if isinstance(value, Mapping):
        items = sorted(value.items(), key=lambda kv: str(kv[0]))
        return "{" + ",".join(f"{json.dumps(str(k), ensure_ascii=False)}:{compact_json(v)}" for k, v in items) + "}"
    raise ValueError(f"a {type(value).__name__} is not a JSON value")
