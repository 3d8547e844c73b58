"""`pipelines:` YAML → plain definitions, with every load problem of spec pipelines.md §1.

Pure: the caller hands in each file's raw `pipelines:` value (already YAML-parsed) and the names
of the configured plugin instances; nothing is read from disk. Problems carry the file and the
`pipeline "<name>": steps[i]: ...` path so a person finds them at once; warnings (unknown keys and
the other **ours** lints) are returned separately and never stop a start.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ductile.durations import DurationError, parse_duration
from ductile.pipelines.baggage import BaggageError, BaggageSpec, parse_baggage
from ductile.pipelines.predicate import Condition, ConditionError, parse_condition
from ductile.pipelines.template import Template, TemplateError, parse_with

HOOK_SIGNALS = ("job.completed", "job.failed", "job.timed_out")
DEFAULT_TIMEOUT = 30.0
MODE_KEYS = ("uses", "call", "relay", "steps", "split")
STEP_KEYS = frozenset({*MODE_KEYS, "id", "if", "with", "baggage"})
PIPELINE_KEYS = frozenset(
    {"name", "on", "on-hook", "from_plugin", "if", "execution_mode", "timeout", "max_depth", "steps"}
)


@dataclass(frozen=True)
class StepDef:
    """One step as written. `kind` is uses|call|steps|split; `target` the plugin or callee."""

    kind: str
    where: str  # "steps[1]: split[0]" — the message path
    target: str = ""
    children: tuple[StepDef, ...] = ()
    id: str | None = None
    condition: Condition | None = None
    with_: Mapping[str, Template] = field(default_factory=lambda: MappingProxyType({}))
    baggage: BaggageSpec | None = None


@dataclass(frozen=True)
class PipelineDef:
    name: str
    file: Path
    index: int  # position in its file's `pipelines:` list
    on: str = ""
    on_hook: str = ""
    from_plugin: str = ""
    condition: Condition | None = None
    execution_mode: str = "async"
    timeout: float = DEFAULT_TIMEOUT
    max_depth: int | None = None  # None: computed (§2.4)
    steps: tuple[StepDef, ...] = ()


@dataclass
class Report:
    """Problems (errors) and warnings, each one formatted line."""

    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def parse_pipelines(
    sources: list[tuple[Path, Any]], plugins: frozenset[str] | set[str], report: Report
) -> list[PipelineDef]:
    """Definitions from each file's raw list, files in ascending absolute-path order (§1.1).

    A pipeline with any error is left out of the result (its problems are in `report`), so later
    checks (calls, cycles) still run on the rest: one pass shows every problem.
    """
    out: list[PipelineDef] = []
    seen: set[str] = set()
    for file, raw in sorted(sources, key=lambda s: str(s[0])):
        if raw is None:
            continue
        if not isinstance(raw, list):
            report.problems.append(f"{file}: pipelines: must be a list of pipelines (got {_kind(raw)})")
            continue
        for index, item in enumerate(raw):
            parsed = _pipeline(file, index, item, plugins, report, seen)
            if parsed is not None:
                out.append(parsed)
    return out


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string"}.get(type(value), type(value).__name__)


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ("" if value is None else str(value).strip())


def _pipeline(
    file: Path, index: int, item: Any, plugins: frozenset[str] | set[str], report: Report, seen: set[str]
) -> PipelineDef | None:
    at = f"{file}: pipelines[{index}]"
    if not isinstance(item, dict):
        report.problems.append(f"{at}: must be a mapping with name, on and steps (got {_kind(item)})")
        return None
    if True in item:  # YAML 1.1 (PyYAML) reads a bare `on:` key as the boolean true
        item = {("on" if k is True else k): v for k, v in item.items()}
    name = _text(item.get("name"))
    if not name:
        report.problems.append(f"{at}: name is required")
        return None
    for key in item:
        if key not in PIPELINE_KEYS:
            report.warnings.append(f"{at}.{key}: unknown key (ignored)")
    errors: list[str] = []
    if name in seen:
        report.problems.append(f'{file}: duplicate pipeline name "{name}"')
        return None
    seen.add(name)
    on, on_hook = _text(item.get("on")), _text(item.get("on-hook"))
    if not on and not on_hook:
        errors.append("on or on-hook is required")
    elif on and on_hook:
        errors.append("on and on-hook are mutually exclusive")
    elif on_hook and on_hook not in HOOK_SIGNALS:
        errors.append(f'on-hook "{on_hook}" is not a hook signal (accepted: {", ".join(HOOK_SIGNALS)})')
    if on.startswith("ductile."):
        report.warnings.append(
            f'{file}: pipeline "{name}": on: "{on}" is an internal event type; '
            "every pipeline step's completion will trigger this pipeline"
        )
    from_plugin = _text(item.get("from_plugin"))
    if from_plugin and from_plugin not in plugins:
        errors.append(f'from_plugin references unknown plugin "{from_plugin}"')
    condition = None
    if item.get("if") is not None:
        try:
            condition = parse_condition(item["if"])
        except ConditionError as exc:
            errors.append(f"if: {exc}")
        else:
            if on_hook and "context" in condition.roots():
                errors.append(
                    "on-hook trigger predicate cannot reference context.* — context is not available at hook time"
                )
    mode = _text(item.get("execution_mode")) or "async"
    if mode not in ("async", "synchronous"):
        errors.append("execution_mode must be async or synchronous")
    timeout = DEFAULT_TIMEOUT
    raw_timeout = item.get("timeout")
    if raw_timeout is not None:
        if not isinstance(raw_timeout, str):
            errors.append(f"timeout must be a duration string such as 30s (got {raw_timeout!r})")
        else:
            try:
                timeout = parse_duration(raw_timeout, allow_zero=True) or DEFAULT_TIMEOUT
            except DurationError as exc:
                errors.append(f"timeout must be a duration string such as 30s: {exc}")
    max_depth = item.get("max_depth")
    if max_depth is not None and (isinstance(max_depth, bool) or not isinstance(max_depth, int)):
        errors.append(f"max_depth must be a whole number >= 0 (got {max_depth!r})")
        max_depth = None
    elif isinstance(max_depth, int) and max_depth < 0:
        errors.append("max_depth must be >= 0 (0 means unlimited)")
        max_depth = None
    raw_steps = item.get("steps")
    steps: tuple[StepDef, ...] = ()
    if not isinstance(raw_steps, list) or not raw_steps:
        errors.append("steps must be non-empty")
    else:
        steps = tuple(
            s
            for i, raw in enumerate(raw_steps)
            if (s := _step(raw, f"steps[{i}]", errors, f"{at}.steps[{i}]", report)) is not None
        )
    if on_hook and steps:
        _hook_lints(file, name, steps, errors, report)
    if errors:
        report.problems.extend(f'{file}: pipeline "{name}": {e}' for e in errors)
        return None
    return PipelineDef(
        name=name,
        file=file,
        index=index,
        on=on,
        on_hook=on_hook,
        from_plugin=from_plugin,
        condition=condition,
        execution_mode=mode,
        timeout=timeout,
        max_depth=max_depth,
        steps=steps,
    )


def _step(raw: Any, where: str, errors: list[str], key_at: str, report: Report) -> StepDef | None:
    if not isinstance(raw, dict):
        errors.append(f"{where}: step must define exactly one of uses, call, relay, steps, or split")
        return None
    for key in raw:
        if key not in STEP_KEYS:
            report.warnings.append(f"{key_at}.{key}: unknown key (ignored)")
    modes = [k for k in MODE_KEYS if k in raw]
    if len(modes) != 1:
        errors.append(f"{where}: step must define exactly one of uses, call, relay, steps, or split")
        return None
    kind = modes[0]
    if kind == "relay":
        errors.append(f"{where}: relay steps are not supported")
        return None
    before = len(errors)
    if kind in ("steps", "split"):
        for key, message in (
            ("if", "if is only supported on uses and call steps"),
            ("with", "with is only supported on uses steps"),
            ("baggage", "baggage is only supported on uses steps"),
        ):
            if key in raw:
                errors.append(f"{where}: {message}")
        items = raw[kind]
        if not isinstance(items, list) or not items:
            errors.append(f"{where}: {kind} must be a non-empty list of steps")
            return None
        children = tuple(
            s
            for i, item in enumerate(items)
            if (s := _step(item, f"{where}: {kind}[{i}]", errors, f"{key_at}.{kind}[{i}]", report)) is not None
        )
        return StepDef(kind=kind, where=where, children=children) if len(errors) == before else None
    target = _text(raw[kind])
    if not target:
        errors.append(f"{where}: {kind} must name a {'plugin' if kind == 'uses' else 'pipeline'}")
    step_id = _text(raw.get("id")) or None
    condition = None
    if raw.get("if") is not None:
        try:
            condition = parse_condition(raw["if"])
        except ConditionError as exc:
            errors.append(f"{where}: if: {exc}")
    with_: dict[str, Template] = {}
    baggage = None
    if kind == "call":
        if "with" in raw:
            errors.append(f"{where}: with is only supported on uses steps")
        if "baggage" in raw:
            errors.append(f"{where}: baggage is only supported on uses steps")
    else:
        with_ = _with(raw.get("with"), where, errors)
        if raw.get("baggage") is not None:
            try:
                baggage = parse_baggage(raw["baggage"])
            except BaggageError as exc:
                errors.append(f"{where}: {exc}")
    if len(errors) != before:
        return None
    return StepDef(
        kind=kind,
        where=where,
        target=target,
        id=step_id,
        condition=condition,
        with_=MappingProxyType(with_),
        baggage=baggage,
    )


def _with(raw: Any, where: str, errors: list[str]) -> dict[str, Template]:
    try:
        return parse_with(raw)
    except TemplateError as exc:
        errors.append(f"{where}: {exc}")
        return {}


def _hook_lints(file: Path, name: str, steps: tuple[StepDef, ...], errors: list[str], report: Report) -> None:
    """§1.4/O4: a hook pipeline runs only its entry step(s), without context."""
    first = steps[0]
    for entry in _entry_steps(first):
        if entry.condition is not None:
            errors.append(
                f"{entry.where}: if on the entry step of an on-hook pipeline never runs "
                "(hook jobs have no pipeline context; the core.switch job would fail)"
            )
        if entry.with_:
            report.warnings.append(
                f'{file}: pipeline "{name}": {entry.where}: with is ignored on the entry step of an on-hook pipeline'
            )
        if entry.baggage is not None:
            report.warnings.append(
                f'{file}: pipeline "{name}": {entry.where}: baggage is ignored on the entry step of an on-hook pipeline'
            )
    if len(steps) > 1 or _has_later(first):
        report.warnings.append(
            f'{file}: pipeline "{name}": steps after the entry of an on-hook pipeline never run '
            "(hook jobs have no pipeline context)"
        )


def _entry_steps(step: StepDef) -> list[StepDef]:
    if step.kind == "steps":
        return _entry_steps(step.children[0]) if step.children else []
    if step.kind == "split":
        return [e for child in step.children for e in _entry_steps(child)]
    return [step]


def _has_later(step: StepDef) -> bool:
    if step.kind == "steps":
        return len(step.children) > 1 or any(_has_later(c) for c in step.children[:1])
    if step.kind == "split":
        return any(_has_later(c) for c in step.children)
    return False
