"""What a reload would change: the running config and plugins compared with the new ones. Pure.

Everything is compared as fingerprints — name → a JSON-like value — built from plain data (the
config's JSON dump, the discovered manifests, the raw pipeline definitions), so the comparison
never depends on how the runtime objects implement equality, and a token's secret never leaves
this module (its fingerprint is a digest). `reload.py` builds the inputs and does the swap.

Settings are split three ways, because a running process cannot apply every one of them:
- most apply at once (budgets, limits read per request, tokens, log level, workers);
- `RESTART_ONLY` ones are bound when the gateway starts (sockets, HTTP server limits, the
  database pool, the pruner's and health watcher's timers): the reload keeps the running value
  and reports the path under `needs_restart` until a restart picks it up;
- `REFUSED` ones (which database) would make the new plugins and pipelines run against another
  database than the running one: the whole reload is refused, nothing changes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

KINDS = ("instances", "plugins", "pipelines", "schedules", "webhooks", "tokens", "settings")

# Attribute paths bound at start (see the module docstring); a changed setting under one of them
# is reported as that path.
RESTART_ONLY = (
    "api.enabled",
    "api.listen",
    "api.idle_timeout",
    "api.read_timeout",
    "api.max_connections",
    "api.max_header_count",
    "api.max_header_bytes",
    "api.max_url_bytes",
    "api.metrics.enabled",
    "api.allowed_origins",
    "api.trusted_proxies",
    "api.mcp",
    "database.pool_size",
    "database.heartbeat",
    "database.node_lease",
    "database.node_id",
    "service.log_format",
    "service.job_retention",
    "service.breaker_transitions_retention",
    "service.schedule_health",
    "webhooks.listen",
)
REFUSED = ("database.path", "database.url")
# The webhook listener is started only when endpoints exist: endpoints on a gateway that started
# without any need a restart (an existing listener takes new endpoints at once).
WEBHOOK_LISTENER = "webhooks.endpoints"


@dataclass(frozen=True)
class Change:
    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.added or self.changed or self.removed)

    def as_dict(self) -> dict[str, list[str]]:
        return {"added": list(self.added), "changed": list(self.changed), "removed": list(self.removed)}


def compare(old: Mapping[str, Any], new: Mapping[str, Any]) -> Change:
    """Names only in `new`, in both with different values, only in `old` (each sorted)."""
    return Change(
        added=tuple(sorted(k for k in new if k not in old)),
        changed=tuple(sorted(k for k in new if k in old and old[k] != new[k])),
        removed=tuple(sorted(k for k in old if k not in new)),
    )


@dataclass(frozen=True)
class Snapshot:
    """Fingerprints of one config + plugins. Values are canonical JSON text, so equal means equal."""

    instances: Mapping[str, str] = field(default_factory=dict)
    plugins: Mapping[str, str] = field(default_factory=dict)
    pipelines: Mapping[str, str] = field(default_factory=dict)
    schedules: Mapping[str, str] = field(default_factory=dict)
    webhooks: Mapping[str, str] = field(default_factory=dict)
    tokens: Mapping[str, str] = field(default_factory=dict)
    settings: Mapping[str, str] = field(default_factory=dict)


def canonical(value: Any) -> str:
    """One text per value: keys as strings, sorted (YAML's bare `on:` key is the boolean true)."""
    return json.dumps(_plain(value), sort_keys=True, separators=(",", ":"), default=str)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {("on" if k is True else str(k)): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def snapshot(config: Mapping[str, Any], plugins: Mapping[str, Any], pipelines: Iterable[Any]) -> Snapshot:
    """Fingerprints from `Config.model_dump(mode="json")`, discovered plugin name → its manifest
    (and where it lives), and the raw pipeline definitions of every file (unnamed ones skipped:
    `config check` refused them already)."""
    instances: dict[str, str] = {}
    schedules: dict[str, str] = {}
    for name, spec in (config.get("plugins") or {}).items():
        spec = dict(spec or {})
        runs = spec.get("enabled", True)
        for entry in spec.pop("schedules", None) or []:
            if runs:  # a disabled instance's schedules do not run: they are not in the plan
                schedules[f"{name}/{entry.get('id', 'default')}"] = canonical(entry)
        instances[name] = canonical(spec)
    named = {}
    for item in pipelines:
        if isinstance(item, Mapping) and isinstance(item.get("name"), str):
            named[item["name"].strip()] = canonical(item)
    webhooks_section = config.get("webhooks") or {}
    webhooks = {str(e.get("path")): canonical(e) for e in webhooks_section.get("endpoints") or []}
    return Snapshot(
        instances=instances,
        plugins={name: canonical(manifest) for name, manifest in plugins.items()},
        pipelines=named,
        schedules=schedules,
        webhooks=webhooks,
        tokens=_tokens(((config.get("api") or {}).get("auth") or {}).get("tokens") or []),
        settings=flatten(_settings_of(config)),
    )


def _tokens(tokens: list[Mapping[str, Any]]) -> dict[str, str]:
    """name → digest and scopes; a repeated name gets `#2`, `#3` (each still compared)."""
    out: dict[str, str] = {}
    for token in tokens:
        secret = token.get("token_sha256") or hashlib.sha256(str(token.get("token") or "").encode()).hexdigest()
        name = str(token.get("name"))
        key, n = name, 1
        while key in out:
            n += 1
            key = f"{name}#{n}"
        out[key] = canonical({"digest": str(secret).lower(), "scopes": sorted(token.get("scopes") or [])})
    return out


def _settings_of(config: Mapping[str, Any]) -> dict[str, Any]:
    api = dict(config.get("api") or {})
    api.pop("auth", None)  # tokens have their own section
    webhooks = config.get("webhooks") or {}
    return {
        "service": config.get("service") or {},
        "database": config.get("database") or {},
        "api": api,
        "plugin_roots": config.get("plugin_roots") or [],
        "webhooks": {"listen": webhooks.get("listen"), "endpoints": bool(webhooks.get("endpoints"))},
    }


def flatten(value: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Dotted path → canonical leaf (lists are leaves: a list is one setting)."""
    out: dict[str, str] = {}
    for key, item in value.items():
        path = f"{prefix}{key}"
        if isinstance(item, Mapping) and item:
            out.update(flatten(item, path + "."))
        else:
            out[path] = canonical(item)
    return out


def under(path: str, prefixes: Iterable[str]) -> str | None:
    """The first of `prefixes` that `path` is, or is inside of (by whole segments)."""
    for prefix in prefixes:
        if path == prefix or path.startswith(prefix + "."):
            return prefix
    return None


@dataclass(frozen=True)
class ReloadDiff:
    sections: Mapping[str, Change]
    needs_restart: tuple[str, ...] = ()  # attribute paths kept at their running value
    refused: tuple[str, ...] = ()  # REFUSED paths that differ: the reload must not happen

    @property
    def unchanged(self) -> bool:
        return all(c.empty for c in self.sections.values()) and not self.needs_restart

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {kind: self.sections[kind].as_dict() for kind in KINDS}
        body["needs_restart"] = list(self.needs_restart)
        body["unchanged"] = self.unchanged
        return body


def diff(old: Snapshot, new: Snapshot) -> ReloadDiff:
    """Per kind what was added, changed and removed; settings that cannot apply live are taken
    out of `settings` and listed under `needs_restart` (or `refused`)."""
    sections = {kind: compare(getattr(old, kind), getattr(new, kind)) for kind in KINDS if kind != "settings"}
    settings = compare(old.settings, new.settings)
    live: dict[str, list[str]] = {"added": [], "changed": [], "removed": []}
    restart: set[str] = set()
    refused: set[str] = set()
    for what in ("added", "changed", "removed"):
        for path in getattr(settings, what):
            if (hit := under(path, REFUSED)) is not None:
                refused.add(hit)
            elif (hit := under(path, RESTART_ONLY)) is not None:
                restart.add(hit)
            elif path == WEBHOOK_LISTENER:
                if new.settings.get(path) == "true":  # none before, some now: no listener to give them to
                    restart.add(path)
                # some before, none now: the listener stays bound and answers 404 until a restart
            else:
                live[what].append(path)
    sections["settings"] = Change(*(tuple(live[w]) for w in ("added", "changed", "removed")))
    return ReloadDiff(sections=sections, needs_restart=tuple(sorted(restart)), refused=tuple(sorted(refused)))


def refusal(paths: Iterable[str]) -> list[str]:
    """One line per refused path (never the value: a database url may hold a password)."""
    return [
        f"{path} changed: a reload cannot move a running gateway to another database "
        "(restart it to use the new one, or put the old value back)"
        for path in paths
    ]


def summary(result: ReloadDiff) -> str:
    """One line for the log: `instances +1 ~0 -2, pipelines ...` for the kinds that changed."""
    parts = [
        f"{kind} +{len(c.added)} ~{len(c.changed)} -{len(c.removed)}"
        for kind, c in ((k, result.sections[k]) for k in KINDS)
        if not c.empty
    ]
    if result.needs_restart:
        parts.append(f"needs restart: {', '.join(result.needs_restart)}")
    return "; ".join(parts) or "no changes"
