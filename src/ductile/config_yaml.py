"""Reading config YAML: `${VAR}` substitution, a loader that refuses duplicate keys, `include:` and merging.

Kept apart from the schema (config.py) because it is about files and lines, not meaning. Every
problem is collected, never raised, so `config check` can still validate whatever did parse.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Loc = tuple[str, ...]

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
# Stands in for an unset ${VAR} until parsing is done, so the values it landed in can be found and
# their follow-on schema errors suppressed (the unset variable is the problem, reported once). Only
# letters and underscores: safe inside plain, quoted and flow scalars alike.
UNSET_MARK = "__DUCTILE_UNSET_VARIABLE__"


class DuplicateKeyLoader(yaml.SafeLoader):
    """A SafeLoader that records every repeated mapping key (with both lines) instead of keeping the last silently.

    YAML says keys are unique, but PyYAML lets a later key overwrite an earlier one: a second
    `flaky:` block would make the first (with its schedules) vanish without a word.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[tuple[int, str, int]] = []  # (line, key, first line), 1-based

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first: dict[Any, int] = {}
        for key_node, _ in node.value:
            # `<<` merge keys legitimately bring in keys that are then overridden; only real keys count.
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            try:
                earlier = first.get(key)
            except TypeError:  # unhashable: the base constructor reports it properly
                continue
            if earlier is None:
                first[key] = line
            else:
                self.duplicates.append((line, str(key), earlier))
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text: str, source: Path) -> tuple[Any, list[str]]:
    """Parse one document; duplicate keys are problems (`file:LINE: duplicate key ...`), the last value is kept.

    Raises yaml.YAMLError for text that is not YAML at all.
    """
    loader = DuplicateKeyLoader(text)
    try:
        data = loader.get_single_data()
    finally:
        loader.dispose()
    problems = [
        f'{source}:{line}: duplicate key "{key}" (first defined at line {earlier}; accepted: each key once per mapping)'
        for line, key, earlier in sorted(loader.duplicates, key=lambda d: d[0])  # inner maps finish first
    ]
    return data, problems


def substitute_env(text: str, source: Path, env: dict[str, str], unset: str = "") -> tuple[str, list[str]]:
    """Replace ${VAR} and ${VAR:-default}; comment lines are left alone; an unset VAR becomes `unset`."""
    problems: list[str] = []
    lines = []
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        if line.lstrip().startswith("#"):
            lines.append(line)
            continue

        def repl(match: re.Match[str], number: int = number) -> str:
            name, default = match.group(1), match.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            problems.append(
                f"{source}: line {number}: environment variable {name} is not set "
                f"(accepted: export it, or write ${{{name}:-default}})"
            )
            return unset

        lines.append(_ENV_REF.sub(repl, line))
    return "".join(lines), problems


def _read_yaml(path: Path, env: dict[str, str], problems: list[str]) -> dict[str, Any] | None:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        problems.append(f"{path}: cannot read file ({exc.strerror})")
        return None
    except UnicodeDecodeError:
        problems.append(f"{path}: not UTF-8 text (accepted: a UTF-8 YAML file)")
        return None
    text, env_problems = substitute_env(text, path, env, unset=UNSET_MARK)
    problems.extend(env_problems)
    try:
        data, duplicate_problems = parse_yaml(text, path)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}: " if mark else ""
        reason = getattr(exc, "problem", None) or str(exc)
        problems.append(f"{path}: {where}invalid YAML: {reason}")
        return None
    problems.extend(duplicate_problems)
    if data is None:
        return {}
    if not isinstance(data, dict):
        problems.append(f"{path}: (top level): must be a mapping of keys (got a {type(data).__name__})")
        return None
    return data


def _merge(base: dict[str, Any], extra: dict[str, Any], source: Path, origins: dict, prefix: Loc = ()) -> None:
    """Maps merge (later wins), lists append, scalars replace; remember which file set each key."""
    for key, value in extra.items():
        loc = (*prefix, str(key))
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value, source, origins, loc)
        elif isinstance(value, list) and isinstance(base.get(key), list):
            base[key] = base[key] + value
            origins[loc] = source
        else:
            base[key] = value
            _mark(value, source, origins, loc)


def _mark(value: Any, source: Path, origins: dict, loc: Loc) -> None:
    origins[loc] = source
    if isinstance(value, dict):
        for key, sub in value.items():
            _mark(sub, source, origins, (*loc, str(key)))


def _include_targets(data: dict[str, Any], path: Path, problems: list[str]) -> list[Path]:
    spec = data.pop("include", None)
    if spec is None:
        return []
    items = spec if isinstance(spec, list) else [spec]
    out: list[Path] = []
    for item in items:
        if not isinstance(item, str):
            problems.append(f"{path}: include: entries must be file or directory paths (got {item!r})")
            continue
        if UNSET_MARK in item:  # its unset ${VAR} is already reported
            continue
        target = Path(os.path.expanduser(item))
        if not target.is_absolute():
            target = path.parent / target
        if target.is_dir():
            out.extend(sorted(p for p in target.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file()))
        elif target.is_file():
            out.append(target)
        else:
            problems.append(
                f"{path}: include: {item!r} does not exist (accepted: a YAML file or a directory of *.yaml)"
            )
    return out


def _take_unset_marks(value: Any, loc: Loc, found: set[Loc]) -> Any:
    """Replace the unset-variable marks by "" (what the text said) and note where they were."""
    if isinstance(value, str):
        if UNSET_MARK in value:
            found.add(loc)
            return value.replace(UNSET_MARK, "")
        return value
    if isinstance(value, dict):
        out = {}
        for key, sub in value.items():
            clean = _take_unset_marks(key, loc, found) if isinstance(key, str) else key
            out[clean] = _take_unset_marks(sub, (*loc, str(clean)), found)
        return out
    if isinstance(value, list):
        return [_take_unset_marks(sub, (*loc, str(i)), found) for i, sub in enumerate(value)]
    return value


@dataclass
class RawConfig:
    """The root file merged with its includes, before any schema check."""

    data: dict[str, Any] = field(default_factory=dict)
    origins: dict[Loc, Path] = field(default_factory=dict)  # which file set each key
    problems: list[str] = field(default_factory=list)
    unset: set[Loc] = field(default_factory=set)  # values that contain an unset ${VAR}
    # Each file's own `pipelines:` value (before list merging), for per-file attribution and the
    # ascending absolute-path order pipelines are concatenated in (pipelines.md §1.1).
    pipeline_sources: list[tuple[Path, Any]] = field(default_factory=list)


def read_config_files(path: Path, env: dict[str, str]) -> RawConfig:
    """Read the root file and every include (depth first, in order); what cannot be read is a problem."""
    raw = RawConfig()
    seen: set[Path] = set()

    def visit(file: Path) -> None:
        file = file.resolve()
        if file in seen:
            raw.problems.append(f"{file}: include: included more than once (include cycle?)")
            return
        seen.add(file)
        data = _read_yaml(file, env, raw.problems)
        if data is None:
            return
        includes = _include_targets(data, file, raw.problems)
        if "pipelines" in data:
            raw.pipeline_sources.append((file, data["pipelines"]))
        if isinstance(data.get("webhooks"), list):  # Ductile's flat list in a standalone file (pipelines.md §7.1)
            data["webhooks"] = {"endpoints": data["webhooks"]}
        _merge(raw.data, data, file, raw.origins)
        for target in includes:
            visit(target)

    visit(path)
    raw.data = _take_unset_marks(raw.data, (), raw.unset)
    return raw
