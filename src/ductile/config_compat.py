"""Ductile configs load as they are: its key names are mapped onto ours, its peripheral keys are
ignored with one warning each, never silently, never as an error.

Runs on the raw merged data before the schema. A key our schema already knows is left alone, so
when a feature lands (say `notify_on_complete`) its key stops being warned about without a change
here. Each entry in the tables says why a key is ignored, because "ignored" alone leaves an
operator guessing whether their setup still does what they meant.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ductile.durations import format_duration, parse_duration

Loc = tuple[str, ...]

# Later issues implement these; until then a config holding them loads and says so.
NOT_YET = "not yet honoured"


def _ignored(reason: str) -> str:
    return f"ignored: {reason}"


def _not_yet(what: str) -> str:
    return f"{NOT_YET}: {what}; the key is accepted and has no effect until then"


TOP_LEVEL: dict[str, str] = {
    "secrets": _ignored(
        "there is no secret vault; put secrets in environment variables (${VAR}, secret_ref: env:NAME)"
    ),
    "accounts": _ignored("credentialed accounts need the vault, which ductile does not have"),
    "instances": _ignored("Remote Event Relay (outbound relay targets) is not supported"),
    "remote_ingress": _ignored("Remote Event Relay (inbound peers) is not supported"),
    "relay": _ignored("Remote Event Relay is not supported"),
    "routes": _ignored("global routes are not supported; express routing as pipelines"),
    "tcc_paths": _ignored("macOS TCC pre-warming: ductile does not trigger privacy prompts at start"),
    "tokens": "read as a secret_ref source only (name → key); API tokens belong under api.auth.tokens",
}
SERVICE: dict[str, str] = {
    "tick_interval": _ignored(
        "ductile's scheduler computes each schedule's next due time exactly and sleeps until then; it needs no tick"
    ),
    "hook_max_depth": _not_yet("hooks (notify_on_complete)"),
    "admission": _ignored(
        "ductile always validates the whole config before it starts and refuses on any problem; "
        "integrity sealing (.checksums) is not supported"
    ),
    "strict_mode": _ignored(
        "ductile always validates the whole config before it starts and refuses on any problem; "
        "integrity sealing (.checksums) is not supported"
    ),
    "unconfined": _ignored("plugin confinement is not supported; plugins run as the gateway's user"),
}
RETENTION_KEYS = ("job_log_retention", "job_attempts_retention", "job_transitions_retention", "job_queue_retention")
API: dict[str, str] = {
    "management_socket": _ignored("there is no management socket; use the HTTP API and the ductile CLI"),
    "max_concurrent_sync": _not_yet("synchronous pipeline calls"),
    "max_sync_timeout": _not_yet("synchronous pipeline calls"),
}
PLUGIN: dict[str, str] = {
    "run_as": _ignored("plugins run as the gateway's user (no privilege separation)"),
    "requires_vault": _ignored("there is no secret vault"),
    "notify_on_complete": _not_yet("hooks (notify_on_complete)"),
    "timeout": _ignored("not a config key in Ductile either; per-command timeouts go under timeouts: {poll: 60s}"),
    "path": _ignored("plugins are found under plugin_roots; list this plugin's parent directory there"),
    "max_attempts": _ignored("not a plugin key in Ductile either; retries are set as retry: {max_attempts: N}"),
    "concurrency_safe": _ignored("a manifest key, not a config key; set parallelism: 1 here to run one at a time"),
}
SCHEDULE: dict[str, str] = {
    "preferred_window": _ignored("Ductile parses it but never uses it either"),
}
# Scopes a Ductile token may hold (auth/auth.go); anything else is accepted but never matches.
KNOWN_SCOPES = (
    "*",
    "plugin:ro",
    "plugin:rw",
    "plugin:catalog:ro",
    "plugin:invoke:ro",
    "jobs:ro",
    "jobs:rw",
    "jobs:status:ro",
    "jobs:tree:ro",
    "jobs:logs:ro",
    "jobs:result:ro",
    "events:ro",
    "events:rw",
    "events:meta:ro",
    "events:payload:ro",
    "system:ro",
    "system:rw",
)


@dataclass
class Known:
    """The keys our schema accepts at each place (so a Ductile key that became ours is left alone)."""

    top: Collection[str]
    service: Collection[str]
    api: Collection[str]
    plugin: Collection[str]
    schedule: Collection[str]


@dataclass
class Normalised:
    data: dict[str, Any]
    problems: list[tuple[Loc, str]] = field(default_factory=list)
    warnings: list[tuple[Loc, str]] = field(default_factory=list)
    # Places whose problem is already reported here: the schema's follow-on errors there are noise.
    reported: set[Loc] = field(default_factory=set)


def normalise(raw: dict[str, Any], known: Known, env: dict[str, str]) -> Normalised:
    """Map Ductile's keys onto ours on a copy of the raw data; collect warnings and problems."""
    out = Normalised(dict(raw))
    data = out.data
    data.pop("environment_vars", None)  # honoured before ${VAR} substitution (load_env_includes)
    _state_alias(out)
    for key, reason in TOP_LEVEL.items():
        if key in data and key not in known.top:
            out.warnings.append(((key,), reason))
    secrets = _legacy_token_keys(data.get("tokens"))
    for key in TOP_LEVEL:
        if key not in known.top:
            data.pop(key, None)
    service = data.get("service")
    if isinstance(service, dict):
        data["service"] = _section(out, ("service",), dict(service), SERVICE, known.service)
        _retention(out, data["service"], known.service)
    api = data.get("api")
    if isinstance(api, dict):
        data["api"] = api = _section(out, ("api",), dict(api), API, known.api)
        auth = api.get("auth")
        if isinstance(auth, dict) and isinstance(auth.get("tokens"), list):
            api["auth"] = {**auth, "tokens": _tokens(out, auth["tokens"], env, secrets)}
    plugins = data.get("plugins")
    if isinstance(plugins, dict):
        data["plugins"] = {
            name: _plugin(out, ("plugins", str(name)), spec, known) if isinstance(spec, dict) else spec
            for name, spec in plugins.items()
        }
    return out


def _section(out: Normalised, loc: Loc, section: dict[str, Any], table: dict[str, str], known: Collection[str]) -> Any:
    for key, reason in table.items():
        if key in section and key not in known:
            out.warnings.append(((*loc, key), reason))
            del section[key]
    return section


def _state_alias(out: Normalised) -> None:
    """Ductile calls the database `state:`; ours is `database:`. Both at once: ours wins, said once."""
    data = out.data
    if "state" not in data:
        return
    state = data.pop("state")
    if "database" in data:
        out.warnings.append((("state",), _ignored("database: is also set and wins (state: is Ductile's name for it)")))
        return
    data["database"] = state


def _retention(out: Normalised, service: dict[str, Any], known: Collection[str]) -> None:
    """Ductile's per-table retentions → our one `job_retention` (a job is kept with its attempts and logs).

    We keep the longest of them, so nothing Ductile would still show disappears earlier; the one
    visible difference (a finished job stays readable at GET /job as long as its logs) is a warning.
    """
    present = {k: service.pop(k) for k in RETENTION_KEYS if k in service and k not in known}
    if not present:
        return
    seconds: dict[str, float] = {}
    for key, value in present.items():
        try:
            seconds[key] = parse_duration(value)
        except ValueError as exc:
            out.problems.append((("service", key), str(exc)))
    if "job_retention" in service:
        for key in present:
            out.warnings.append((("service", key), _ignored("service.job_retention is set and wins")))
        return
    if not seconds:
        return
    longest = max(seconds.values())
    service["job_retention"] = longest
    queue = seconds.get("job_queue_retention")
    if queue is not None and queue < longest:
        out.warnings.append(
            (
                ("service", "job_queue_retention"),
                f"mapped onto service.job_retention {format_duration(longest)}: a finished job is kept with its "
                f"attempts and logs, so GET /job answers for {format_duration(longest)}, not {format_duration(queue)}",
            )
        )


def _legacy_token_keys(entries: Any) -> dict[str, str]:
    """Ductile's tokens.yaml (`tokens: [{name, key}]`) as a source for secret_ref names."""
    found: dict[str, str] = {}
    if isinstance(entries, list):
        for entry in entries:
            if isinstance(entry, dict) and isinstance(entry.get("name"), str) and isinstance(entry.get("key"), str):
                found[entry["name"]] = entry["key"]
    return found


def derived_token_name(entry: dict[str, Any]) -> str:
    """A stable name for a token entry without one: a digest prefix, the same however tokens are ordered."""
    if isinstance(entry.get("token_sha256"), str):
        return f"token-{entry['token_sha256'][:8].lower()}"
    return f"token-{hashlib.sha256(str(entry.get('token', '')).encode()).hexdigest()[:8]}"


def _tokens(out: Normalised, entries: list[Any], env: dict[str, str], secrets: dict[str, str]) -> list[Any]:
    result: list[Any] = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            result.append(entry)
            continue
        entry = dict(entry)
        loc = ("api", "auth", "tokens", str(index))
        if "secret_ref" in entry:
            ref = entry.pop("secret_ref")
            if "token" in entry or "token_sha256" in entry:
                out.problems.append(((*loc,), "set exactly one of token, token_sha256 or secret_ref, not several"))
                out.reported.add(loc)
            else:
                value = resolve_secret_ref(ref, env, secrets)
                if value is None:
                    out.problems.append(
                        (
                            (*loc, "secret_ref"),
                            f"secret_ref {ref!r} not found (accepted: env:NAME with NAME set in the environment, "
                            "or the name of a tokens: entry)",
                        )
                    )
                    out.reported.add(loc)
                else:
                    entry["token"] = value
        scopes = entry.get("scopes")
        if isinstance(scopes, list):
            for scope in scopes:
                if isinstance(scope, str) and scope not in KNOWN_SCOPES:
                    out.warnings.append(
                        (
                            (*loc, "scopes"),
                            f"unknown scope {scope!r} is kept but never grants anything "
                            f"(known: {', '.join(KNOWN_SCOPES)})",
                        )
                    )
        result.append(entry)
    return result


def resolve_secret_ref(ref: Any, env: dict[str, str], secrets: dict[str, str]) -> str | None:
    """`env:NAME` reads the environment; a bare name looks in Ductile's legacy `tokens:` entries."""
    if not isinstance(ref, str) or not ref:
        return None
    if ref.startswith("env:"):
        value = env.get(ref[4:])
        return value or None
    return secrets.get(ref)


def _plugin(out: Normalised, loc: Loc, spec: dict[str, Any], known: Known) -> dict[str, Any]:
    spec = _section(out, loc, dict(spec), PLUGIN, known.plugin)
    if "schedule" in spec and "schedule" not in known.plugin:
        single = spec.pop("schedule")  # Ductile's deprecated single schedule: one more entry
        if isinstance(single, dict):
            spec["schedules"] = [*(spec.get("schedules") or []), single]
    schedules = spec.get("schedules")
    if isinstance(schedules, list):
        kept = []
        for index, entry in enumerate(schedules):
            where = (*loc, "schedules", str(index))
            if not isinstance(entry, dict):
                kept.append(entry)
                continue
            kept.append(_section(out, where, dict(entry), SCHEDULE, known.schedule))
        spec["schedules"] = kept
    return spec


# ---- environment_vars.include: dotenv files read before ${VAR} substitution ----

_DOTENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")


def parse_dotenv(text: str) -> dict[str, str]:
    """KEY=VALUE lines (optional `export`, quotes, `#` comments); what is not such a line is skipped."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _DOTENV_LINE.match(line)
        if not match:
            continue
        key, value = match.groups()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
            if match.group(2).startswith('"'):
                value = value.replace("\\n", "\n").replace('\\"', '"')
        else:
            value = re.split(r"\s+#", value, maxsplit=1)[0]
        values[key] = value
    return values


def _include_spec(root: Path) -> tuple[list[str], str | None]:
    """The root file's `environment_vars.include` entries as written, or the problem with them."""
    try:
        data = yaml.safe_load(root.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return [], None  # the main reader reports it
    spec = data.get("environment_vars") if isinstance(data, dict) else None
    if spec is None:
        return [], None
    includes = spec.get("include") if isinstance(spec, dict) else None
    if not isinstance(includes, list) or not all(isinstance(i, str) for i in includes):
        return [], f"{root}: environment_vars: must be a mapping with include: [list of .env files]"
    return includes, None


def _include_path(root: Path, item: str) -> Path:
    path = Path(os.path.expanduser(item))
    return path if path.is_absolute() else root.parent / path


def env_include_paths(root: Path) -> list[Path]:
    """The files `environment_vars.include` names, resolved as the loader resolves them (for
    `system backup --scope all`); a malformed key gives none (loading the config reports it)."""
    return [_include_path(root, item) for item in _include_spec(root)[0]]


def load_env_includes(root: Path, env: dict[str, str]) -> list[str]:
    """Add the root file's `environment_vars.include` files to `env` (never over a set variable).

    Read from the root file's own text, before substitution, because those files are what the
    substitution needs. Returns problems (`file: environment_vars.include: ...`).
    """
    includes, problem = _include_spec(root)
    if problem is not None:
        return [problem]
    problems: list[str] = []
    for item in includes:
        path = _include_path(root, item)
        try:
            values = parse_dotenv(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or "not UTF-8 text"
            problems.append(f"{root}: environment_vars.include: cannot read {item!r} ({reason})")
            continue
        for key, value in values.items():
            env.setdefault(key, value)
    return problems
