"""Find plugins under `plugin_roots` and read their `manifest.yaml`.

Discovery never runs a plugin. One bad plugin is reported and skipped; the others still load.
"""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ductile.config_yaml import parse_yaml
from ductile.stopwatch import DEFAULT_MAX_SUBS, MAX_SUBS_RANGE

log = logging.getLogger(__name__)

NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]*$"
WELL_KNOWN_TIMEOUTS = {"poll": 60.0, "handle": 120.0, "health": 10.0, "init": 30.0}
DEFAULT_TIMEOUT = 60.0


class CommandSpec(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    name: str = Field(pattern=NAME_PATTERN)
    type: Literal["read", "write"]
    description: str | None = None
    idempotent: bool | None = None
    retry_safe: bool | None = None
    input_schema: dict[str, Any] | None = None
    output_schema: dict[str, Any] | None = None
    values: dict[str, Any] | None = None

    def json_schema(self) -> dict[str, Any] | None:
        """The input schema as full JSON Schema; the compact `{field: type}` form is expanded."""
        return _expand(self.input_schema)

    def output_json_schema(self) -> dict[str, Any] | None:
        return _expand(self.output_schema)


def _expand(schema: dict[str, Any] | None) -> dict[str, Any] | None:
    if not schema:
        return None
    if "type" in schema or "properties" in schema or "$schema" in schema:
        return schema
    return {"type": "object", "properties": {k: {"type": v} for k, v in schema.items()}}


class ConfigKeys(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    required: list[str] = Field(default_factory=list)
    optional: list[str] = Field(default_factory=list)


class FactOutput(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    when: dict[str, Any] = Field(default_factory=dict)
    from_: str = Field(default="state_updates", alias="from")
    fact_type: str
    compatibility_view: str | None = None


class StopwatchSpec(BaseModel):
    """`stopwatch:` in a manifest (Ductile's): how many `ductile_stopwatch_subs` entries of one
    response the stopwatch counts. Out of range refuses the plugin at load, as Ductile does, so
    a typo cannot silently become the default."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    max_subs: int = DEFAULT_MAX_SUBS

    @field_validator("max_subs", mode="before")
    @classmethod
    def _in_range(cls, value: Any) -> Any:
        low, high = MAX_SUBS_RANGE
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"got {value!r} (accepted: an integer {low}..{high}; default {DEFAULT_MAX_SUBS})")
        return value


class Manifest(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    manifest_spec: Literal["ductile.plugin"]
    manifest_version: Literal[1]
    name: str = Field(pattern=NAME_PATTERN)
    protocol: Literal[2]
    entrypoint: str
    commands: list[CommandSpec] = Field(min_length=1)
    version: str | None = None
    description: str | None = None
    concurrency_safe: bool = True
    config_keys: ConfigKeys = Field(default_factory=ConfigKeys)
    fact_outputs: list[FactOutput] = Field(default_factory=list)
    stopwatch: StopwatchSpec = Field(default_factory=StopwatchSpec)

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        return None if value is None else str(value)

    def command(self, name: str) -> CommandSpec | None:
        return next((c for c in self.commands if c.name == name), None)

    @property
    def command_names(self) -> list[str]:
        return [c.name for c in self.commands]


@dataclass(frozen=True)
class Plugin:
    manifest: Manifest
    directory: Path
    entrypoint: Path

    @property
    def name(self) -> str:
        return self.manifest.name


@dataclass
class Discovery:
    plugins: dict[str, Plugin] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # plugins refused: "file: reason"
    warnings: list[str] = field(default_factory=list)
    # Names a refused plugin would have had (its manifest `name`, its directory): an instance using
    # one is not also "unknown" — the refusal is the root cause, reported once.
    refused: set[str] = field(default_factory=set)
    missing_roots: list[Path] = field(default_factory=list)


class ManifestRefused(ValueError):
    """One plugin cannot be loaded; `problems` holds a line per reason (usually one)."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


def _format_validation(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        loc = ".".join(str(p) for p in item["loc"]) or "(top level)"
        parts.append(f"{loc}: {item['msg']}")
    return "; ".join(parts)


def load_manifest(manifest_path: Path, *, allow_symlinks: bool = False) -> Plugin:
    """Read and check one plugin directory; raise ValueError with a reason that names the file."""
    directory = manifest_path.parent
    try:
        raw, duplicates = parse_yaml(manifest_path.read_text(encoding="utf-8"), manifest_path)
    except yaml.YAMLError as exc:
        raise ValueError(f"{manifest_path}: not valid YAML ({exc})")
    if duplicates:
        raise ManifestRefused(duplicates)
    if not isinstance(raw, dict):
        raise ValueError(f"{manifest_path}: manifest must be a mapping of keys")
    if "protocol" in raw and raw["protocol"] != 2:
        raise ValueError(f"{manifest_path}: protocol is {raw.get('protocol')!r}; only protocol 2 is supported")
    try:
        manifest = Manifest.model_validate(raw)
    except ValidationError as exc:
        raise ValueError(f"{manifest_path}: invalid manifest: {_format_validation(exc)}")
    names = manifest.command_names
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"{manifest_path}: command names repeated: {', '.join(dupes)}")
    if manifest.version is None:
        log.warning("plugin manifest has no version", extra={"manifest": str(manifest_path)})

    entry = manifest.entrypoint
    if os.path.isabs(entry):
        raise ValueError(f"{manifest_path}: entrypoint {entry!r} is absolute (must be relative to the plugin dir)")
    if ".." in Path(entry).parts:
        raise ValueError(f"{manifest_path}: entrypoint {entry!r} contains '..'")
    if not allow_symlinks and directory.is_symlink():
        raise ValueError(f"{manifest_path}: plugin directory is a symlink (set service.allow_symlinks to allow)")
    entry_path = directory / entry
    if not entry_path.exists():
        raise ValueError(f"{manifest_path}: entrypoint {entry!r} does not exist")
    if not allow_symlinks and entry_path.is_symlink():
        raise ValueError(f"{manifest_path}: entrypoint {entry!r} is a symlink (set service.allow_symlinks to allow)")
    resolved_dir = directory.resolve()
    resolved = entry_path.resolve()
    if resolved_dir not in resolved.parents:
        raise ValueError(f"{manifest_path}: entrypoint {entry!r} resolves outside the plugin directory")
    if not resolved.is_file() or not os.access(resolved, os.X_OK):
        raise ValueError(f"{manifest_path}: entrypoint {entry!r} is not an executable file (chmod +x it)")
    if directory.stat().st_mode & stat.S_IWOTH:
        raise ValueError(f"{manifest_path}: plugin directory is world-writable (chmod o-w it)")
    return Plugin(manifest=manifest, directory=resolved_dir, entrypoint=resolved)


def discover(roots: list[Path], *, allow_symlinks: bool = False) -> Discovery:
    """Walk every root for manifest.yaml; first plugin of a name wins, later ones are warned about."""
    found = Discovery()
    for root in roots:
        if not root.is_dir():
            found.problems.append(f"{root}: plugin root does not exist or is not a directory")
            found.missing_roots.append(root)
            continue
        for dirpath, dirnames, filenames in os.walk(root, followlinks=allow_symlinks):
            dirnames.sort()
            if not allow_symlinks:
                for name in dirnames:
                    linked = Path(dirpath) / name
                    if linked.is_symlink() and (linked / "manifest.yaml").is_file():
                        found.problems.append(
                            f"{linked / 'manifest.yaml'}: plugin directory is a symlink "
                            f"(set service.allow_symlinks to allow)"
                        )
                        found.refused.update(_declared_names(linked / "manifest.yaml"))
            if "manifest.yaml" not in filenames:
                continue
            manifest_path = Path(dirpath) / "manifest.yaml"
            try:
                plugin = load_manifest(manifest_path, allow_symlinks=allow_symlinks)
            except ValueError as exc:
                found.problems.extend(exc.problems if isinstance(exc, ManifestRefused) else [str(exc)])
                found.refused.update(_declared_names(manifest_path))
                continue
            if plugin.name in found.plugins:
                first = found.plugins[plugin.name].directory
                found.warnings.append(
                    f"{manifest_path}: duplicate plugin name {plugin.name!r} ignored (first found in {first})"
                )
                continue
            found.plugins[plugin.name] = plugin
    return found


def _declared_names(manifest_path: Path) -> set[str]:
    """The names a refused plugin goes by: its directory, and the manifest's `name` if it can be read."""
    names = {manifest_path.parent.name}
    try:
        raw = yaml.safe_load(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return names
    if isinstance(raw, dict) and isinstance(raw.get("name"), str):
        names.add(raw["name"])
    return names


def default_timeout(command: str) -> float:
    return WELL_KNOWN_TIMEOUTS.get(command, DEFAULT_TIMEOUT)
