"""Configuration: YAML files (with `include:` and `${VAR}`) → validated, frozen pydantic models.

Every problem is reported as `file: key.path: what is wrong (what is accepted)`, all at once, so a
person fixes a config in one pass. Loading opens no database and starts nothing.
"""

from __future__ import annotations

import copy
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from croniter import croniter
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    field_validator,
    model_validator,
)

from ductile.durations import format_duration, parse_duration
from ductile.manifest import NAME_PATTERN, Discovery

SCOPES = (
    "*",
    "jobs:ro",
    "jobs:rw",
    "jobs:tree:ro",
    "jobs:result:ro",
    "plugin:ro",
    "plugin:rw",
    "events:ro",
    "system:ro",
    "system:rw",
)
SECRET_MARKERS = ("token", "secret", "password", "key")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(Exception):
    """Raised with every problem found; `problems` holds one formatted line each."""

    def __init__(self, problems: list[str], partial: LoadedConfig | None = None):
        super().__init__("\n".join(problems))
        self.problems = problems
        # The config with its invalid parts left out, so checks against plugins can still run and
        # a person sees every problem in one pass. None when nothing could be read.
        self.partial = partial


# Seconds inside the program; the config's own notation (`30s`, `1h30m`) when dumped as JSON (`config show`).
_AS_TEXT = PlainSerializer(format_duration, return_type=str, when_used="json")
Duration = Annotated[float, BeforeValidator(lambda v: parse_duration(v)), _AS_TEXT]
OptionalDuration = Annotated[float, BeforeValidator(lambda v: parse_duration(v, allow_zero=True)), _AS_TEXT]
Interval = Annotated[float, BeforeValidator(lambda v: parse_duration(v, allow_named=True)), _AS_TEXT]


def _default_workers() -> int:
    return max(1, (os.cpu_count() or 2) - 1)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServiceConfig(_Model):
    name: str = "ductile"
    log_level: Literal["debug", "info", "warn", "warning", "error"] = "info"
    log_format: Literal["json", "text"] = "json"
    max_workers: int = Field(default_factory=_default_workers, ge=1, le=1024)
    dedupe_ttl: Duration = 86400.0
    job_retention: dict[str, Duration] = Field(default_factory=lambda: {"default": 30 * 86400.0})
    plugin_env_passthrough: list[str] = Field(default_factory=list)
    allow_symlinks: bool = False
    kill_grace: Duration = 5.0
    drain_grace: OptionalDuration = 30.0

    @field_validator("job_retention", mode="before")
    @classmethod
    def _retention(cls, value: Any) -> Any:
        if isinstance(value, str | int | float):
            return {"default": value}
        if isinstance(value, dict):
            allowed = {"default", "queued", "running", "succeeded", "failed", "timed_out", "dead", "skipped"}
            unknown = sorted(set(value) - allowed)
            if unknown:
                raise ValueError(f"unknown status {unknown[0]!r} (accepted: {', '.join(sorted(allowed))})")
            return {"default": 30 * 86400.0, **value}
        raise ValueError("must be a duration or a map of status → duration")


class DatabaseConfig(_Model):
    path: str = "./data/ductile.db"
    url: str | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("sqlite:"):
            raise ValueError(f"database url {value!r} is not supported yet (accepted: sqlite:///path)")
        return value


class RetryConfig(_Model):
    max_attempts: int = Field(default=4, ge=1, le=100)
    backoff_base: Duration = 30.0


class ScheduleConfig(_Model):
    id: str = Field(default="default", pattern=NAME_PATTERN)
    command: str = Field(default="poll", pattern=NAME_PATTERN)
    payload: dict[str, Any] = Field(default_factory=dict)
    every: Interval | None = None
    cron: str | None = None
    timezone: str | None = None
    jitter: OptionalDuration = 0.0
    if_running: Literal["skip", "queue"] = "skip"
    catch_up: Literal["skip", "run_once"] = "skip"

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None and (len(value.split()) != 5 or not croniter.is_valid(value)):
            raise ValueError(f"invalid cron expression {value!r} (accepted: 5 fields, e.g. '*/15 * * * *')")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown timezone {value!r} (accepted: an IANA name such as Europe/Berlin or UTC)")
        return value

    @field_validator("command")
    @classmethod
    def _not_handle(cls, value: str) -> str:
        if value == "handle":
            raise ValueError("'handle' cannot be scheduled (accepted: any other command, usually poll)")
        return value

    @model_validator(mode="after")
    def _one_spec(self) -> ScheduleConfig:
        if (self.every is None) == (self.cron is None):
            raise ValueError("exactly one of 'every' or 'cron' is required (accepted: every: 5m, or cron: '0 * * * *')")
        return self


class PluginInstanceConfig(_Model):
    enabled: bool = True
    uses: str | None = Field(default=None, pattern=NAME_PATTERN)
    config: dict[str, Any] = Field(default_factory=dict)
    schedules: list[ScheduleConfig] = Field(default_factory=list)
    retry: RetryConfig = Field(default_factory=RetryConfig)
    timeouts: dict[str, Duration] = Field(default_factory=dict)
    parallelism: int | None = Field(default=None, ge=1, le=1024)
    max_outstanding_polls: int = Field(default=1, ge=1, le=1000)

    @field_validator("config", mode="before")
    @classmethod
    def _none_config(cls, value: Any) -> Any:
        return {} if value is None else value

    @field_validator("schedules")
    @classmethod
    def _unique_schedule_ids(cls, value: list[ScheduleConfig]) -> list[ScheduleConfig]:
        ids = [s.id for s in value]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"schedule id {dupes[0]!r} is used twice (accepted: unique ids per instance)")
        return value


class ApiToken(_Model):
    name: str
    token: str | None = Field(default=None, min_length=8)
    token_sha256: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")
    scopes: list[str] = Field(min_length=1)

    @field_validator("scopes")
    @classmethod
    def _scopes(cls, value: list[str]) -> list[str]:
        for scope in value:
            if scope not in SCOPES:
                raise ValueError(f"unknown scope {scope!r} (accepted: {', '.join(SCOPES)})")
        return value

    @model_validator(mode="after")
    def _one_secret(self) -> ApiToken:
        if (self.token is None) == (self.token_sha256 is None):
            raise ValueError("exactly one of 'token' or 'token_sha256' is required")
        return self

    @property
    def digest(self) -> bytes:
        if self.token_sha256 is not None:
            return bytes.fromhex(self.token_sha256)
        return hashlib.sha256((self.token or "").encode()).digest()


class ApiAuth(_Model):
    tokens: list[ApiToken] = Field(default_factory=list)


class ApiConfig(_Model):
    enabled: bool = False
    listen: str = "127.0.0.1:8080"
    auth: ApiAuth = Field(default_factory=ApiAuth)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError(f"invalid listen address {value!r} (accepted: host:port, e.g. 127.0.0.1:8080)")
        return value

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])


class Config(_Model):
    service: ServiceConfig = Field(default_factory=ServiceConfig)
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    plugin_roots: list[str] = Field(default_factory=list)
    plugins: dict[str, PluginInstanceConfig] = Field(default_factory=dict)
    api: ApiConfig = Field(default_factory=ApiConfig)
    pipelines: Any = None
    webhooks: Any = None

    @field_validator("plugins", mode="before")
    @classmethod
    def _plugins(cls, value: Any) -> Any:
        if value is None:
            return {}
        if isinstance(value, dict):
            for name in value:
                if not isinstance(name, str) or not re.match(NAME_PATTERN, name):
                    raise ValueError(f"invalid instance name {name!r} (accepted: {NAME_PATTERN})")
            return {k: ({} if v is None else v) for k, v in value.items()}
        return value


@dataclass
class LoadedConfig:
    config: Config
    path: Path  # the root config.yaml
    raw: dict[str, Any]
    origins: dict[tuple[str, ...], Path] = field(default_factory=dict)

    @property
    def directory(self) -> Path:
        return self.path.parent

    def resolve(self, value: str) -> Path:
        path = Path(os.path.expanduser(value))
        return path if path.is_absolute() else (self.directory / path).resolve()

    @property
    def db_path(self) -> Path:
        url = self.config.database.url
        if url:
            return self.resolve(url.removeprefix("sqlite:///").removeprefix("sqlite://"))
        return self.resolve(self.config.database.path)

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
    """--config DIR|FILE, else $DUCTILE_CONFIG, else ~/.config/ductile; a directory means its config.yaml."""
    raw = arg or os.environ.get("DUCTILE_CONFIG") or "~/.config/ductile"
    path = Path(os.path.expanduser(str(raw)))
    if path.is_dir():
        path = path / "config.yaml"
    return path.resolve()


def substitute_env(text: str, source: Path, env: dict[str, str]) -> tuple[str, list[str]]:
    """Replace ${VAR} and ${VAR:-default}; comment lines are left alone."""
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
            return ""

        lines.append(_ENV_REF.sub(repl, line))
    return "".join(lines), problems


def _read_yaml(path: Path, env: dict[str, str], problems: list[str]) -> dict[str, Any] | None:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        problems.append(f"{path}: cannot read file ({exc.strerror})")
        return None
    text, env_problems = substitute_env(text, path, env)
    problems.extend(env_problems)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}: " if mark else ""
        reason = getattr(exc, "problem", None) or str(exc)
        problems.append(f"{path}: {where}invalid YAML: {reason}")
        return None
    if data is None:
        return {}
    if not isinstance(data, dict):
        problems.append(f"{path}: (top level): must be a mapping of keys (got a {type(data).__name__})")
        return None
    return data


def _merge(base: dict[str, Any], extra: dict[str, Any], source: Path, origins: dict, prefix: tuple = ()) -> None:
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


def _mark(value: Any, source: Path, origins: dict, loc: tuple) -> None:
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


def load_config(arg: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> LoadedConfig:
    """Read, merge and validate; raise ConfigError listing every problem."""
    env = dict(os.environ) if env is None else env
    path = resolve_config_file(arg)
    if not path.is_file():
        raise ConfigError([f"{path}: config file not found (accepted: --config DIR|FILE or $DUCTILE_CONFIG)"])
    problems: list[str] = []
    merged: dict[str, Any] = {}
    origins: dict[tuple[str, ...], Path] = {}
    seen: set[Path] = set()

    def visit(file: Path) -> None:
        file = file.resolve()
        if file in seen:
            problems.append(f"{file}: include: included more than once (include cycle?)")
            return
        seen.add(file)
        data = _read_yaml(file, env, problems)
        if data is None:
            return
        includes = _include_targets(data, file, problems)
        _merge(merged, data, file, origins)
        for target in includes:
            visit(target)

    visit(path)
    loaded = LoadedConfig(config=Config(), path=path, raw=merged, origins=origins)
    if problems:
        raise ConfigError(problems)
    try:
        loaded.config = Config.model_validate(merged)
    except ValidationError as exc:
        partial = _without_invalid_parts(merged, exc)
        partial_loaded = None
        if partial is not None:
            partial_loaded = LoadedConfig(config=partial, path=path, raw=merged, origins=origins)
        raise ConfigError(format_validation_errors(exc, loaded), partial=partial_loaded)
    return loaded


def _without_invalid_parts(raw: dict[str, Any], exc: ValidationError, rounds: int = 20) -> Config | None:
    """Drop every key an error points at (repeatedly) until what is left validates."""
    data = copy.deepcopy(raw)
    for _ in range(rounds):
        for item in exc.errors():
            _drop(data, tuple(item["loc"]))
        data = _compact(data)
        try:
            return Config.model_validate(data)
        except ValidationError as again:
            exc = again
    return None


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


def format_validation_errors(exc: ValidationError, loaded: LoadedConfig) -> list[str]:
    out = []
    for item in exc.errors():
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


def check_against_plugins(loaded: LoadedConfig, discovery: Discovery) -> list[str]:
    """Problems only visible once plugins are known: references, required keys, schedules."""
    problems: list[str] = []
    known = ", ".join(sorted(discovery.plugins)) or "none found under plugin_roots"
    for instance, spec in loaded.config.plugins.items():
        base = spec.uses or instance
        plugin = discovery.plugins.get(base)
        key = "uses" if spec.uses else None
        if plugin is None:
            loc = ("plugins", instance, key) if key else ("plugins", instance)
            problems.append(loaded.problem(tuple(x for x in loc if x), f"unknown plugin {base!r} (known: {known})"))
            continue
        for required in plugin.manifest.config_keys.required:
            if required not in spec.config:
                problems.append(
                    loaded.problem(
                        ("plugins", instance, "config"),
                        f"missing required config key {required!r} (plugin {base} requires: "
                        f"{', '.join(plugin.manifest.config_keys.required)})",
                    )
                )
        commands = plugin.manifest.command_names
        for index, schedule in enumerate(spec.schedules):
            if schedule.command not in commands:
                index = _raw_schedule_index(loaded.raw, instance, schedule, index)
                problems.append(
                    loaded.problem(
                        ("plugins", instance, "schedules", str(index), "command"),
                        f"plugin {base} has no command {schedule.command!r} (accepted: {', '.join(commands)})",
                    )
                )
        for command in spec.timeouts:
            if command not in commands:
                problems.append(
                    loaded.problem(
                        ("plugins", instance, "timeouts", command),
                        f"plugin {base} has no command {command!r} (accepted: {', '.join(commands)})",
                    )
                )
    return problems


def _raw_schedule_index(raw: dict[str, Any], instance: str, schedule: ScheduleConfig, index: int) -> int:
    """Where this schedule sits in the file (a partially valid config may have dropped some)."""
    try:
        entries = raw["plugins"][instance]["schedules"]
        for position, entry in enumerate(entries):
            if isinstance(entry, dict) and entry.get("id", "default") == schedule.id:
                return position
    except (KeyError, TypeError):
        pass
    return index


def redact(value: Any, key: str = "") -> Any:
    """Hide values whose key names a secret; used by `config show` and the monitor's state view."""
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, key) for v in value]
    if key and any(marker in key.lower() for marker in SECRET_MARKERS) and value not in (None, "", {}, []):
        return "***"
    return value
