"""Configuration: YAML files (with `include:` and `${VAR}`) → validated, frozen pydantic models.

Every problem is reported as `file: key.path: what is wrong (what is accepted)`, all at once, so a
person fixes a config in one pass. Loading opens no database and starts nothing.
"""

from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ValidationError,
)

from ductile.config_compat import Known, load_env_includes, normalise
from ductile.config_models import (  # the schema; re-exported: import it from here
    ONE_SECRET,
    ONE_SPEC,
    SCOPES,
    TRIGGERS,
    ApiAuth,
    ApiConfig,
    ApiMcpConfig,
    ApiToken,
    ApiUiConfig,
    CircuitBreakerConfig,
    Config,
    DatabaseConfig,
    Duration,
    Interval,
    MetricsConfig,
    OptionalDuration,
    PluginInstanceConfig,
    RetryConfig,
    ScheduleConfig,
    ScheduleHealthConfig,
    ServiceConfig,
    _repeated,
    duplicate_schedule_id,
)
from ductile.config_yaml import Loc, read_config_files, substitute_env
from ductile.manifest import NAME_PATTERN

__all__ = [
    "ONE_SECRET",
    "ONE_SPEC",
    "SCOPES",
    "TRIGGERS",
    "ApiAuth",
    "ApiConfig",
    "ApiMcpConfig",
    "ApiToken",
    "ApiUiConfig",
    "CircuitBreakerConfig",
    "Config",
    "DatabaseConfig",
    "Duration",
    "Interval",
    "MetricsConfig",
    "OptionalDuration",
    "PluginInstanceConfig",
    "RetryConfig",
    "ScheduleConfig",
    "ScheduleHealthConfig",
    "ServiceConfig",
    "duplicate_schedule_id",
    "substitute_env",
]  # re-exported (the schema lives in config_models.py)


class ConfigError(Exception):
    """Raised with every problem found; `problems` holds one formatted line each."""

    def __init__(self, problems: list[str], partial: LoadedConfig | None = None):
        super().__init__("\n".join(problems))
        self.problems = problems
        # The config with its invalid parts left out (what the other checks ran on). None when
        # the root file does not exist.
        self.partial = partial


def no_database(path: Path) -> str:
    """The one wording for "this SQLite file does not exist yet" (CLI, backup, selfcheck)."""
    return f"no database at {path} (has the gateway run yet?)"


@dataclass
class LoadedConfig:
    config: Config
    path: Path  # the root config.yaml
    raw: dict[str, Any]
    origins: dict[tuple[str, ...], Path] = field(default_factory=dict)
    # Keys left out of `config` because they were invalid (already reported): checks that would
    # only repeat the problem in other words skip them.
    dropped: frozenset[Loc] = frozenset()
    # Keys accepted but ignored (or not yet honoured), one `file: key.path: why` line each.
    warnings: list[str] = field(default_factory=list)
    # Each file's own `pipelines:` value (before list merging), for per-file attribution and the
    # ascending absolute-path order pipelines are concatenated in (pipelines.md §1.1).
    pipeline_sources: list[tuple[Path, Any]] = field(default_factory=list)

    @property
    def directory(self) -> Path:
        return self.path.parent

    def resolve(self, value: str) -> Path:
        path = Path(os.path.expanduser(value))
        return path if path.is_absolute() else (self.directory / path).resolve()

    @property
    def db_path(self) -> Path:
        """The SQLite file; with a PostgreSQL url, where `database.path` points (the data
        directory plugins and the registry use stays next to it)."""
        url = self.config.database.url
        if url and not self.config.database.postgres:
            return self.resolve(url.removeprefix("sqlite:///").removeprefix("sqlite://"))
        return self.resolve(self.config.database.path)

    @property
    def missing_database(self) -> str | None:
        """Why a command that reads the local database cannot run, or None. Commands never open a
        missing SQLite file: that would create an empty database and answer as if nothing ran."""
        if self.config.database.postgres or self.db_path.exists():
            return None
        return no_database(self.db_path)

    @property
    def store_target(self) -> str | Path:
        """What `open_store` opens: the PostgreSQL url, or the SQLite file."""
        return self.config.database.url if self.config.database.postgres and self.config.database.url else self.db_path

    @property
    def plugin_roots(self) -> list[Path]:
        return [self.resolve(r) for r in self.config.plugin_roots]

    def origin(self, loc: tuple[str, ...]) -> Path:
        for size in range(len(loc), 0, -1):
            hit = self.origins.get(loc[:size])
            if hit is not None:
                return hit
        return self.path

    def problem(self, loc: tuple[str, ...], message: str) -> str:
        return f"{self.origin(loc)}: {'.'.join(loc)}: {message}"


def resolve_config_file(arg: str | os.PathLike[str] | None) -> Path:
    """--config DIR|FILE, else $DUCTILE_CONFIG, else $DUCTILE_CONFIG_DIR (Ductile's name), else ~/.config/ductile.

    A directory means its config.yaml.
    """
    raw = arg or os.environ.get("DUCTILE_CONFIG") or os.environ.get("DUCTILE_CONFIG_DIR") or "~/.config/ductile"
    path = Path(os.path.expanduser(str(raw)))
    if path.is_dir():
        path = path / "config.yaml"
    return path.resolve()


@dataclass
class ConfigRead:
    """What reading and validating found: the config (its invalid parts left out) and every problem."""

    loaded: LoadedConfig | None  # None only when the root file does not exist
    problems: list[str]
    warnings: list[str] = field(default_factory=list)


def read_config(arg: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> ConfigRead:
    """Read, merge and validate in one pass; never raises for a bad config, so later checks still run."""
    env = dict(os.environ) if env is None else env
    path = resolve_config_file(arg)
    if not path.is_file():
        return ConfigRead(None, [f"{path}: config file not found (accepted: --config DIR|FILE or $DUCTILE_CONFIG)"])
    env_problems = load_env_includes(path, env)
    raw = read_config_files(path, env)
    loaded = LoadedConfig(
        config=Config(), path=path, raw=raw.data, origins=raw.origins, pipeline_sources=raw.pipeline_sources
    )
    compat = normalise(raw.data, _known_keys(), env)
    loaded.warnings = list(dict.fromkeys(loaded.problem(loc, message) for loc, message in compat.warnings))
    loaded.warnings.extend(_included_env_vars(raw.origins, path))
    shape_problems, data = _shape_checks(compat.data)
    shape_problems = [(loc, message) for loc, message in shape_problems if not _under(loc, compat.reported)]
    problems = [
        *env_problems,
        *raw.problems,
        *(loaded.problem(loc, message) for loc, message in [*compat.problems, *shape_problems]),
    ]
    try:
        loaded.config = Config.model_validate(data)
    except ValidationError as exc:
        # An unset ${VAR} left "" behind; what the schema says about that "" is the same problem again.
        errors = [e for e in exc.errors() if not _under(_loc(e), raw.unset | compat.reported)]
        problems.extend(format_validation_errors(errors, loaded))
        loaded.config, dropped = _without_invalid_parts(data, exc)
        loaded.dropped = frozenset(dropped)
    return ConfigRead(loaded, list(dict.fromkeys(problems)), loaded.warnings)


def _included_env_vars(origins: dict[Loc, Path], root: Path) -> list[str]:
    """`environment_vars` is read from the root file only (before any include can be found, since
    includes may use ${VAR}); one in an included file is ignored, and said so, never silently."""
    files = sorted({str(f) for loc, f in origins.items() if loc[:1] == ("environment_vars",) and f != root.resolve()})
    return [
        f"{f}: environment_vars: ignored in an included file (accepted: environment_vars in the root config, {root})"
        for f in files
    ]


def _known_keys() -> Known:
    return Known(
        top=Config.model_fields,
        service=ServiceConfig.model_fields,
        api=ApiConfig.model_fields,
        plugin=PluginInstanceConfig.model_fields,
        schedule=ScheduleConfig.model_fields,
    )


def load_config(arg: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> LoadedConfig:
    """The valid config, or ConfigError listing every problem (with the valid part as `partial`)."""
    read = read_config(arg, env)
    if read.problems or read.loaded is None:
        raise ConfigError(read.problems, partial=read.loaded)
    return read.loaded


def _loc(error: Any) -> Loc:
    return tuple(str(p) for p in error["loc"])


def _under(loc: Loc, roots: set[Loc] | frozenset[Loc]) -> bool:
    return any(loc[: len(root)] == root for root in roots)


def _shape_checks(raw: dict[str, Any]) -> tuple[list[tuple[Loc, str]], dict[str, Any]]:
    """Rules pydantic would only check once everything around them is valid, checked on the raw data.

    Pydantic runs a list's or a model's own validator only after all its items validated, so a
    duplicate schedule id behind a bad cron would surface only in a second run. Returns the
    problems and a copy of the data without the instances whose names are invalid (so one bad
    name does not hide every other instance's problems).
    """
    problems: list[tuple[Loc, str]] = []
    data = copy.deepcopy(raw)
    plugins = data.get("plugins")
    if isinstance(plugins, dict):
        for name in list(plugins):
            if not isinstance(name, str) or not re.match(NAME_PATTERN, name):
                problems.append((("plugins",), f"invalid instance name {name!r} (accepted: {NAME_PATTERN})"))
                del plugins[name]
        for name, spec in plugins.items():
            schedules = spec.get("schedules") if isinstance(spec, dict) else None
            if isinstance(schedules, list):
                problems.extend(_schedule_shape(("plugins", name, "schedules"), schedules))
    tokens = _dig(data, "api", "auth", "tokens")
    if isinstance(tokens, list):
        for index, token in enumerate(tokens):
            if isinstance(token, dict) and (token.get("token") is None) == (token.get("token_sha256") is None):
                problems.append((("api", "auth", "tokens", str(index)), ONE_SECRET))
    return problems, data


def _schedule_shape(loc: Loc, schedules: list[Any]) -> list[tuple[Loc, str]]:
    problems: list[tuple[Loc, str]] = []
    ids: list[Any] = []
    for index, entry in enumerate(schedules):
        if not isinstance(entry, dict):
            continue
        ids.append(entry.get("id", "default"))
        if sum(entry.get(key) is not None for key in TRIGGERS) != 1:
            problems.append(((*loc, str(index)), ONE_SPEC))
    for dupe in _repeated(ids):
        problems.append((loc, duplicate_schedule_id(dupe)))
    return problems


def _dig(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _without_invalid_parts(data: dict[str, Any], exc: ValidationError, rounds: int = 20) -> tuple[Config, set[Loc]]:
    """Drop every key an error points at (repeatedly) until what is left validates.

    The plugin checks then run on what is left, and `dropped` tells them which inputs are missing
    because they were wrong (an instance whose `uses` was invalid must not become "unknown plugin").
    """
    data = copy.deepcopy(data)
    dropped: set[Loc] = set()
    for _ in range(rounds):
        for item in exc.errors():
            _drop(data, tuple(item["loc"]))
            dropped.add(_loc(item))
        data = _compact(data)
        try:
            return Config.model_validate(data), dropped
        except ValidationError as again:
            exc = again
    return Config(), dropped | {()}


def _drop(data: Any, loc: tuple[Any, ...]) -> None:
    if not loc:
        return
    for part in loc[:-1]:
        if isinstance(data, dict):
            data = data.get(part, data.get(str(part)))
        elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]
        else:
            return
    last = loc[-1]
    if isinstance(data, dict):
        data.pop(last, None)
        data.pop(str(last), None)
    elif isinstance(data, list) and isinstance(last, int) and 0 <= last < len(data):
        data[last] = _DROPPED  # keep later indexes stable for the other errors of this round


_DROPPED = object()


def _compact(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _compact(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_compact(v) for v in data if v is not _DROPPED]
    return data


def _accepted_fields(model: type[BaseModel] | None) -> str:
    return ", ".join(model.model_fields) if model else ""


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """Walk the model tree along loc to name the fields accepted where an unknown key sat."""
    model: type[BaseModel] | None = Config
    i = 0
    while model is not None and i < len(loc) - 1:
        field_info = model.model_fields.get(str(loc[i]))
        if field_info is None:
            return None
        annotation = field_info.annotation
        args = getattr(annotation, "__args__", ())
        origin = getattr(annotation, "__origin__", None)
        if origin is dict and len(args) == 2 and isinstance(args[1], type) and issubclass(args[1], BaseModel):
            model, i = args[1], i + 2
        elif origin is list and args and isinstance(args[0], type) and issubclass(args[0], BaseModel):
            model, i = args[0], i + 2
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model, i = annotation, i + 1
        else:
            return None
    return model


def format_validation_errors(errors: list[Any], loaded: LoadedConfig) -> list[str]:
    """One `file: key.path: what (accepted)` line per pydantic error, in our words rather than pydantic's."""
    out = []
    for item in errors:
        loc = tuple(str(p) for p in item["loc"])
        kind = item["type"]
        message = str(item["msg"]).removeprefix("Value error, ")
        if kind == "extra_forbidden":
            message = f"unknown key (accepted: {_accepted_fields(_model_at(loc))})"
        elif kind == "missing":
            message = "required key is missing"
        elif kind in ("int_parsing", "int_type"):
            message = f"{item.get('input')!r} is not a whole number (accepted: an integer)"
        elif kind in ("bool_parsing", "bool_type"):
            message = f"{item.get('input')!r} is not a boolean (accepted: true or false)"
        elif kind == "literal_error":
            message = f"{item.get('input')!r} is not allowed ({message.replace('Input should be', 'accepted:')})"
        elif kind == "greater_than_equal":
            message = f"{item.get('input')!r} is too small (accepted: {item.get('ctx', {}).get('ge')} or more)"
        elif kind == "less_than_equal":
            message = f"{item.get('input')!r} is too large (accepted: {item.get('ctx', {}).get('le')} or less)"
        elif kind == "string_pattern_mismatch":
            pattern = item.get("ctx", {}).get("pattern")
            message = f"{item.get('input')!r} is not a valid name (accepted: letters, digits, _ and -, starting with a letter: {pattern})"
        elif kind == "too_short":
            message = f"{item.get('input')!r} must not be empty (accepted: at least one entry)"
        elif kind in ("dict_type", "list_type", "string_type", "float_type", "model_type"):
            expected = {
                "dict_type": "a mapping",
                "list_type": "a list",
                "string_type": "a string",
                "float_type": "a number",
                "model_type": "a mapping",
            }[kind]
            message = f"{item.get('input')!r} has the wrong type (accepted: {expected})"
        out.append(loaded.problem(loc, message))
    return out
