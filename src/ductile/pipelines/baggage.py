"""Baggage: the durable context a pipeline step claims for itself and its descendants (pipelines.md §4.4, §3.5).

Parsed at load into a BaggageSpec; applied while the router creates the step's job, against the step's
input payload and the parent context. Pure: returns a new accumulated context or raises BaggageError.
Inherited paths are immutable (an equal re-claim is fine), `origin_*` anchors never change once set.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from ductile.pipelines.paths import MISSING, json_equal, json_type, quote, resolve

CONTEXT_LIMIT: Final = 1_048_576
_SEGMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BULK_KEYS = ("from", "namespace")
_SOURCES = "payload, payload.<path> or context.<path>"

Path = tuple[str, ...]


class BaggageError(ValueError):
    """A baggage block that cannot load, or a claim that cannot apply; the message says which and why."""


class ContextTooLarge(BaggageError):
    """The accumulated context would exceed the size limit; the API answers 413 with these numbers."""

    def __init__(self, bytes_actual: int, bytes_limit: int = CONTEXT_LIMIT) -> None:
        super().__init__(f"accumulated context exceeds max size ({bytes_limit} bytes): {bytes_actual} bytes")
        self.bytes_actual = bytes_actual
        self.bytes_limit = bytes_limit


@dataclass(frozen=True)
class BaggageSpec:
    """Claims sorted by target; `bulk_from` + `namespace` copy every key of one payload object."""

    claims: tuple[tuple[Path, Path], ...] = ()
    bulk_from: Path | None = None
    namespace: Path | None = None

    @property
    def empty(self) -> bool:
        return not self.claims and self.bulk_from is None


def _target(text: str, what: str) -> Path:
    """A claim target or namespace: identifier segments, never in the runtime's `ductile` space."""
    trimmed = text.strip()
    segments = tuple(trimmed.split("."))
    for segment in segments:
        if not segment:
            raise BaggageError(f"invalid baggage {what} {quote(text)}: path segments must be non-empty")
        if not _SEGMENT.fullmatch(segment):
            raise BaggageError(
                f"invalid baggage {what} {quote(text)}: path segment {quote(segment)} "
                "must use letters, digits, or underscore and must not start with a digit"
            )
    if segments[0] == "ductile" or segments[0].startswith("ductile_"):
        raise BaggageError(
            f"baggage path {quote(trimmed)} is reserved (the first segment may not be ductile or start with ductile_)"
        )
    return segments


def _source(key: str, text: str, roots: tuple[str, ...]) -> Path:
    segments = tuple(text.strip().split("."))
    bare_ok = "payload" in roots
    if segments[0] not in roots or (len(segments) == 1 and not (bare_ok and segments[0] == "payload")):
        if key == "from":
            raise BaggageError(f"baggage from {quote(text)} must reference payload or payload.<path>")
        raise BaggageError(f"baggage.{key} source {quote(text)} must reference {_SOURCES}")
    if any(not s.strip() for s in segments):
        raise BaggageError(f"baggage.{key} source {quote(text)}: path segments must be non-empty")
    return segments


def parse_baggage(raw: Any) -> BaggageSpec:
    """Validate a step's `baggage:` block at load; None (an empty YAML key) claims nothing."""
    if raw is None:
        return BaggageSpec()
    if not isinstance(raw, Mapping):
        raise BaggageError(f"baggage must be a mapping of target path to source path, got {json_type(raw)}")
    values: dict[str, str] = {}
    for raw_key in sorted(raw, key=str):
        key = str(raw_key).strip()
        if not key:
            raise BaggageError("baggage keys must be non-empty")
        value = raw[raw_key]
        if isinstance(value, Mapping | list | tuple):
            raise BaggageError(f"baggage.{key} must be a scalar string (a path such as payload.url)")
        text = "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
        if not text.strip():
            raise BaggageError(f"baggage.{key} must be non-empty")
        values[key] = text.strip()
    bulk_from = namespace = None
    if "namespace" in values and "from" not in values:
        raise BaggageError("baggage namespace requires from")
    if "from" in values:
        if "namespace" not in values:
            raise BaggageError("baggage from requires namespace (bulk claims go under context.<namespace>.*)")
        bulk_from = _source("from", values["from"], ("payload",))
        namespace = _target(values["namespace"], "namespace")
    claims = tuple(
        sorted(
            (_target(key, "path"), _source(key, text, ("payload", "context")))
            for key, text in values.items()
            if key not in _BULK_KEYS
        )
    )
    _reject_overlaps([target for target, _ in claims] + ([namespace] if namespace else []))
    return BaggageSpec(claims, bulk_from, namespace)


def _reject_overlaps(targets: list[Path]) -> None:
    """`a` and `a.b` in one block would make one claim rewrite the other's value, so they cannot load."""
    for i, first in enumerate(targets):
        for second in targets[i + 1 :]:
            shorter, longer = sorted((first, second), key=len)
            if longer[: len(shorter)] == shorter:
                raise BaggageError(
                    f"baggage paths {quote('.'.join(shorter))} and {quote('.'.join(longer))} overlap "
                    "(one step may claim a path or paths below it, not both)"
                )


def _write(result: dict[str, Any], parent: Mapping[str, Any], target: Path, value: Any) -> None:
    dotted = ".".join(target)
    anchored = target[0].startswith("origin_") and target[0] in parent
    if anchored and not json_equal(resolve(("context", *target), {"context": parent}), value):
        raise BaggageError(f"origin anchor is immutable: {quote(target[0])} is already set")
    node = result
    for depth, segment in enumerate(target[:-1]):
        below = node.get(segment, MISSING)
        if below is MISSING:
            below = node[segment] = {}
        elif not isinstance(below, dict):
            prefix = ".".join(target[: depth + 1])
            raise BaggageError(
                f"baggage path {quote(dotted)}: {quote(prefix)} holds a {json_type(below)}, not an object"
            )
        node = below
    existing = node.get(target[-1], MISSING)
    if existing is MISSING:
        node[target[-1]] = copy.deepcopy(value)
    elif not json_equal(existing, value):  # only inherited values can be there: claims never overlap
        raise BaggageError(
            f"baggage path {quote(dotted)} is inherited and immutable: the parent context holds a different value"
        )


def apply_claims(spec: BaggageSpec, payload: Any, parent: dict[str, Any]) -> dict[str, Any]:
    """The new accumulated context: a copy of `parent` with every claim written into it (parent untouched)."""
    scopes = {"payload": payload, "context": parent}
    writes: list[tuple[Path, Any]] = []
    for target, source in spec.claims:
        value = resolve(source, scopes)
        if value is MISSING:
            raise BaggageError(f"baggage.{'.'.join(target)}: source {quote('.'.join(source))} not found")
        writes.append((target, value))
    if spec.bulk_from is not None and spec.namespace is not None:
        source_text = quote(".".join(spec.bulk_from))
        bulk = resolve(spec.bulk_from, scopes)
        if bulk is MISSING:
            raise BaggageError(f"baggage from {source_text} not found")
        if not isinstance(bulk, Mapping):
            raise BaggageError(f"baggage from {source_text} must resolve to an object, found {json_type(bulk)}")
        writes.extend(((*spec.namespace, str(key)), bulk[key]) for key in sorted(bulk, key=str))
    result = copy.deepcopy(dict(parent))
    for target, value in writes:
        _write(result, parent, target, value)
    return result


def context_size(accumulated: Mapping[str, Any]) -> int:
    """Bytes of the compact, key-sorted UTF-8 JSON the context is stored as."""
    text = json.dumps(accumulated, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return len(text.encode("utf-8"))


def check_size(accumulated: dict[str, Any]) -> int:
    """The serialized size; ContextTooLarge when it exceeds CONTEXT_LIMIT (exactly the limit is allowed)."""
    size = context_size(accumulated)
    if size > CONTEXT_LIMIT:
        raise ContextTooLarge(size)
    return size
