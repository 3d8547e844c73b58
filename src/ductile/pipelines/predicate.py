"""The `if` condition language of pipelines (spec pipelines.md §2.5): parsed once at load, evaluated per event.

Pure. Load-time problems raise ConditionError (the message is the reason, prefixed with where it sits in
the tree); a present value of the wrong type at evaluation raises EvaluationError. Absent paths never
raise: they compare as null.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from ductile.pipelines.paths import MISSING, PathError, is_number, json_equal, json_type, parse_path, resolve
from ductile.pipelines.re2compat import RegexError, compile_pattern

MAX_DEPTH: Final = 16
MAX_ATOMS: Final = 64
OPERATORS: Final = (
    "exists",
    "eq",
    "neq",
    "in",
    "gt",
    "gte",
    "lt",
    "lte",
    "contains",
    "startswith",
    "endswith",
    "regex",
)
_ORDERING = {"gt": lambda a, b: a > b, "gte": lambda a, b: a >= b, "lt": lambda a, b: a < b, "lte": lambda a, b: a <= b}
_TEXT = {"contains": str.__contains__, "startswith": str.startswith, "endswith": str.endswith}
_SHAPES = "path (with op and value), all, any or not"


class ConditionError(ValueError):
    """A condition that cannot load; the message names the problem and what is accepted."""


class EvaluationError(ValueError):
    """An operator met a present value of a type it cannot compare (e.g. `gt` on a string)."""


@dataclass(frozen=True)
class Condition:
    """One node of a parsed condition tree; subclasses are the four shapes of §2.5."""

    def roots(self) -> frozenset[str]:
        """Scope roots read anywhere below: lets compilation reject `context.*` on hook triggers."""
        raise NotImplementedError


@dataclass(frozen=True)
class Atom(Condition):
    path: tuple[str, ...]
    op: str
    value: Any = None
    pattern: re.Pattern[str] | None = None

    def roots(self) -> frozenset[str]:
        return frozenset({self.path[0]})

    def __hash__(self) -> int:  # values may be lists/objects; hash their JSON so compiled graphs stay hashable
        return hash((self.path, self.op, json.dumps(self.value, sort_keys=True, default=str)))


@dataclass(frozen=True)
class All(Condition):
    children: tuple[Condition, ...]

    def roots(self) -> frozenset[str]:
        return frozenset().union(*(c.roots() for c in self.children))


@dataclass(frozen=True)
class AnyOf(Condition):
    children: tuple[Condition, ...]

    def roots(self) -> frozenset[str]:
        return frozenset().union(*(c.roots() for c in self.children))


@dataclass(frozen=True)
class Not(Condition):
    child: Condition

    def roots(self) -> frozenset[str]:
        return self.child.roots()


def _json_value(value: Any, where: str) -> Any:
    """Config values as JSON: YAML dates become their text, tuples lists; anything else non-JSON is refused."""
    if isinstance(value, _dt.date | _dt.datetime):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        raise ConditionError(f"{where}value must be a finite number (NaN and infinity are not JSON)")
    if value is None or isinstance(value, str | bool) or is_number(value):
        return value
    if isinstance(value, list | tuple):
        return [_json_value(v, where) for v in value]
    if isinstance(value, Mapping) and all(isinstance(k, str) for k in value):
        return {k: _json_value(v, where) for k, v in value.items()}
    raise ConditionError(f"{where}value must be JSON (string, number, boolean, null, list or mapping)")


class _Parser:
    def __init__(self) -> None:
        self.atoms = 0

    def parse(self, raw: Any, where: str, depth: int) -> Condition:
        if depth > MAX_DEPTH:
            raise ConditionError(f"{where}condition too deep (at most {MAX_DEPTH} nested levels)")
        if not isinstance(raw, Mapping):
            raise ConditionError(f"{where}condition must be a mapping with one of {_SHAPES}, got {json_type(raw)}")
        shapes = [k for k in ("path", "all", "any", "not") if k in raw]
        if len(shapes) != 1:
            found = ", ".join(shapes) if shapes else "none"
            raise ConditionError(f"{where}condition must have exactly one of {_SHAPES} (found: {found})")
        shape = shapes[0]
        if shape == "not":
            return Not(self.parse(raw["not"], f"{where}not: ", depth + 1))
        if shape in ("all", "any"):
            items = raw[shape]
            if not isinstance(items, list) or not items:
                raise ConditionError(f"{where}{shape} must be a non-empty list of conditions")
            children = tuple(self.parse(c, f"{where}{shape}[{i}]: ", depth + 1) for i, c in enumerate(items))
            return All(children) if shape == "all" else AnyOf(children)
        self.atoms += 1
        if self.atoms > MAX_ATOMS:
            raise ConditionError(f"{where}condition too large (at most {MAX_ATOMS} atomic predicates)")
        return _atom(raw, where)


def _atom(raw: Mapping[str, Any], where: str) -> Atom:
    try:
        path = parse_path(raw["path"])
    except PathError as exc:
        raise ConditionError(f"{where}{exc}") from None
    op = raw.get("op")
    if not isinstance(op, str) or op.strip() not in OPERATORS:
        got = "missing" if op is None else repr(op)
        raise ConditionError(f"{where}op must be one of {', '.join(OPERATORS)} (got {got})")
    op = op.strip()
    if op == "exists":
        return Atom(path, op)
    if "value" not in raw:
        raise ConditionError(f"{where}op {op} requires a value")
    value = _json_value(raw["value"], where)
    if op == "in" and not isinstance(value, list):
        raise ConditionError(f"{where}in requires a list value, got {json_type(value)}")
    if op in _ORDERING and not is_number(value):
        raise ConditionError(f"{where}{op} requires a number value, got {json_type(value)}")
    if (op in _TEXT or op == "regex") and not isinstance(value, str):
        raise ConditionError(f"{where}{op} requires a string value, got {json_type(value)}")
    if op == "regex":
        try:
            return Atom(path, op, value, compile_pattern(value))
        except RegexError as exc:
            raise ConditionError(f"{where}{exc}") from None
    return Atom(path, op, value)


def parse_condition(raw: Any) -> Condition:
    """Validate and freeze a YAML condition; every problem is reported with its place in the tree."""
    return _Parser().parse(raw, "", 1)


def _type_error(atom: Atom, wanted: str, found: Any) -> EvaluationError:
    path = ".".join(atom.path)
    return EvaluationError(f"path {path}: op {atom.op} requires a {wanted} value, found {json_type(found)}")


def _evaluate_atom(atom: Atom, scopes: Mapping[str, Any]) -> bool:
    found = resolve(atom.path, scopes)
    if found is MISSING:
        return atom.op == "neq"  # absent compares as null: only "not equal" holds
    op = atom.op
    if op == "exists":
        return True
    if op == "eq":
        return json_equal(found, atom.value)
    if op == "neq":
        return not json_equal(found, atom.value)
    if op == "in":
        return any(json_equal(found, item) for item in atom.value)
    if op in _ORDERING:
        if not is_number(found):
            raise _type_error(atom, "number", found)
        return bool(_ORDERING[op](found, atom.value))
    if not isinstance(found, str):
        raise _type_error(atom, "string", found)
    if op == "regex":
        assert atom.pattern is not None
        return atom.pattern.fullmatch(found) is not None
    return bool(_TEXT[op](found.lower(), atom.value.lower()))


def evaluate(cond: Condition, scopes: Mapping[str, Any]) -> bool:
    """True when `cond` holds; `all`/`any` short-circuit left to right, so a later type error may not surface."""
    if isinstance(cond, Atom):
        return _evaluate_atom(cond, scopes)
    if isinstance(cond, All):
        return all(evaluate(child, scopes) for child in cond.children)
    if isinstance(cond, AnyOf):
        return any(evaluate(child, scopes) for child in cond.children)
    if isinstance(cond, Not):
        return not evaluate(cond.child, scopes)
    raise TypeError(f"not a condition: {cond!r}")
