"""`with:` templates (spec pipelines.md §4.3): `{path}` references and literal text, parsed at load.

A template that is exactly one `{path}` yields the referenced value with its JSON type; anything else
yields text, each value formatted by `format_scalar`. Pure: the caller hands in the scopes.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ductile.pipelines.paths import (
    MISSING,
    PathError,
    compact_json,
    format_number,
    is_number,
    parse_path,
    quote,
    resolve,
)


class TemplateError(ValueError):
    """A template that cannot parse (load time) or a reference that cannot resolve (job time)."""


@dataclass(frozen=True)
class Ref:
    """One `{path}`: the trimmed text as written (for messages) and its segments."""

    text: str
    path: tuple[str, ...]


@dataclass(frozen=True)
class Template:
    """The source text and its parts in order: literal strings and Refs."""

    text: str
    parts: tuple[str | Ref, ...]

    @property
    def refs(self) -> tuple[Ref, ...]:
        """Every reference, so compilation can warn about roots a `with` can never read."""
        return tuple(p for p in self.parts if isinstance(p, Ref))


def parse_template(text: str) -> Template:
    """Split into literals and references, left to right; a value without braces is all literal."""
    if not isinstance(text, str):
        raise TemplateError(f"template must be a string, got {type(text).__name__}")
    parts: list[str | Ref] = []
    rest = text
    while rest:
        start, end = rest.find("{"), rest.find("}")
        if end >= 0 and (start < 0 or end < start):
            raise TemplateError(f"unexpected }} in template {quote(text)}")
        if start < 0:
            parts.append(rest)
            break
        if start > 0:
            parts.append(rest[:start])
        end = rest.find("}", start)
        if end < 0:
            raise TemplateError(f"unclosed {{ in template {quote(text)}")
        ref_text = rest[start + 1 : end].strip()
        if not ref_text:
            raise TemplateError(f"empty template path in {quote(text)}")
        if "{" in ref_text:
            raise TemplateError(f"nested {{ in template {quote(text)}")
        parts.append(Ref(ref_text, tuple(ref_text.split("."))))
        rest = rest[end + 1 :]
    return Template(text, tuple(parts))


def parse_with(raw: Any) -> dict[str, Template]:
    """A step's `with:` mapping, parsed at load. Other YAML scalars become their text (`3`, `true`; null
    is empty) as Go's YAML decoder does for a string map; a nested map or list is refused.
    """
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise TemplateError("with must be a mapping of payload key to template string")
    parsed: dict[str, Template] = {}
    for key, value in raw.items():
        if isinstance(value, Mapping | list | tuple):
            raise TemplateError(f'with.{key} must be a template string such as "{{payload.url}}", not a nested value')
        if value is None:
            text = ""
        elif isinstance(value, bool):
            text = "true" if value else "false"
        else:
            text = format_number(value) if is_number(value) else str(value)
        try:
            parsed[str(key)] = parse_template(text)
        except TemplateError as exc:
            raise TemplateError(f"with.{key}: {exc}") from None
    return parsed


def _lookup(ref: Ref, scopes: Mapping[str, Any]) -> Any:
    try:
        parse_path(ref.text)
    except PathError as exc:
        raise TemplateError(f"resolve {quote(ref.text)}: {exc}") from None
    value = resolve(ref.path, scopes)
    if value is MISSING:
        raise TemplateError(f"resolve {quote(ref.text)}: path not found")
    return value


def render(t: Template, scopes: Mapping[str, Any]) -> Any:
    """A lone `{path}` gives the value itself (a deep copy); otherwise the formatted text."""
    if len(t.parts) == 1 and isinstance(t.parts[0], Ref):
        return copy.deepcopy(_lookup(t.parts[0], scopes))
    out: list[str] = []
    for part in t.parts:
        out.append(part if isinstance(part, str) else format_scalar(_lookup(part, scopes)))
    return "".join(out)


def format_scalar(value: Any) -> str:
    """How one value reads inside text: strings as-is, 3 not 3.0, true/false, null empty, JSON otherwise."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if is_number(value):
        return format_number(value)
    try:
        return compact_json(value)
    except ValueError:  # NaN inside an object (Python's json accepts it) or a non-JSON value: still print something
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True, default=str)


class WithError(ValueError):
    """One `with` entry failed; str() is `<key>: <reason>`, which dispatch wraps with pipeline/step."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


def apply_with(with_map: Mapping[str, Template], payload: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    """A new payload: keys in sorted order, every value read from the same pre-`with` snapshot."""
    snapshot = {"payload": payload, "context": context}
    result = dict(payload)
    for key in sorted(with_map):
        try:
            result[key] = render(with_map[key], snapshot)
        except TemplateError as exc:
            raise WithError(key, str(exc)) from None
    return result
