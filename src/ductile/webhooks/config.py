"""The `webhooks:` config section (spec pipelines.md §7.1, §7.2, §7.6) and what the gateway runs from it.

Two layers, like the rest of the config: pydantic models that check each value's type and form
(read with the whole config, so their problems are reported with all others), and `check_webhooks`,
which runs in `config_check.check_config` with the whole config known and adds the problems that
need it: the plugin exists, the `secret_ref` resolves, required keys (in Ductile's words,
`webhook[<i>] (<path>): ...`), duplicate paths, a listen address the API already uses. It also
builds the runtime `Intake` (secrets resolved) the gateway serves, so a gateway never starts with
an endpoint `config check` would refuse.

This module must not import `ductile.config` at import time: `ductile.config` imports the models.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, field_validator, model_validator

from ductile.config_compat import _legacy_token_keys, resolve_secret_ref
from ductile.durations import format_duration, parse_duration
from ductile.webhooks.verify import Rules

if TYPE_CHECKING:
    from ductile.config import LoadedConfig
    from ductile.manifest import Discovery

DEFAULT_LISTEN = "127.0.0.1:8091"
DEFAULT_MAX_BODY = 1024 * 1024
DEFAULT_MAX_SKEW = 300.0
SIZE_ACCEPTED = "a number of bytes, or a size such as 512KB, 1MB, 2GB (1KB = 1024 bytes)"
_SIZE = re.compile(r"(\d+)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1024**2, "mb": 1024**2, "mib": 1024**2}
_SIZE_UNITS |= {"g": 1024**3, "gb": 1024**3, "gib": 1024**3}
SECRET_ACCEPTED = (
    "accepted: env:NAME with NAME set in the gateway's environment, or the name of a tokens: entry "
    "(Ductile's tokens.yaml)"
)


def parse_size(value: object) -> int:
    """`max_body_size`: bytes as a number, or a size string (`1MB`, `512KB`)."""
    if isinstance(value, bool):
        raise ValueError(f"invalid max_body_size {value!r} (accepted: {SIZE_ACCEPTED})")
    if isinstance(value, int):
        size = value
    elif isinstance(value, str) and (match := _SIZE.fullmatch(value.strip())):
        size = int(match.group(1)) * _SIZE_UNITS[(match.group(2) or "").lower()]
    else:
        raise ValueError(f"invalid max_body_size {value!r} (accepted: {SIZE_ACCEPTED})")
    if size < 1:
        raise ValueError(f"invalid max_body_size {value!r}: must be at least 1 byte (accepted: {SIZE_ACCEPTED})")
    return size


_AS_TEXT = PlainSerializer(format_duration, return_type=str, when_used="json")
_Duration = Annotated[float, BeforeValidator(lambda v: parse_duration(v)), _AS_TEXT]
_Size = Annotated[int, BeforeValidator(parse_size)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def valid_listen(value: str, example: str = DEFAULT_LISTEN) -> str:
    """`host:port` with a port number (the API's `listen` runs it too, with its own example)."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"invalid listen address {value!r} (accepted: host:port, e.g. {example})")
    return value


class ListenAddress:
    """`host` and `port` of a model's validated `listen` field (the API's and the webhook listener's)."""

    listen: str

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])


class WebhookEndpoint(_Model):
    name: str | None = None  # a label for logs
    # Required in Ductile; checked by `check_webhooks` so the message names the endpoint as Ductile does.
    path: str = ""
    plugin: str = ""
    secret_ref: str = ""
    signature_header: str = ""
    max_body_size: _Size = DEFAULT_MAX_BODY
    # Beyond Ductile (§7.6), all optional; absent = exactly Ductile's behaviour.
    delivery_id_header: str | None = None
    delivery_ttl: _Duration | None = None  # default service.dedupe_ttl
    timestamp_header: str | None = None
    max_skew: _Duration | None = None  # default 5m when timestamp_header is set
    signed_payload: Literal["body", "timestamp.body"] = "body"

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if value and not value.startswith("/"):
            raise ValueError(f"path {value!r} must start with / (accepted: an exact URL path such as /webhook/github)")
        return value

    @field_validator("plugin", "secret_ref", "signature_header", "delivery_id_header", "timestamp_header")
    @classmethod
    def _trimmed(cls, value: str | None) -> str | None:
        return value.strip() if isinstance(value, str) else value


class WebhooksConfig(ListenAddress, _Model):
    listen: str = DEFAULT_LISTEN  # a second listener, started only when endpoints is non-empty
    endpoints: list[WebhookEndpoint] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _legacy_list(cls, value: Any) -> Any:
        """Ductile's flat `webhooks: [ ... ]` (a list of endpoints) is the same as `endpoints:`."""
        if value is None:
            return {}
        if isinstance(value, list):
            return {"endpoints": value}
        return value

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        return valid_listen(value)


# ---- what the gateway runs ----------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """One configured path, ready to serve: header names lower-cased (ASGI headers are)."""

    path: str
    plugin: str
    signature_header: str
    max_body_size: int
    rules: Rules
    name: str | None = None
    timestamp_header: str | None = None
    delivery_id_header: str | None = None
    delivery_ttl: float = 86400.0

    @property
    def label(self) -> str:
        return self.name or self.path


@dataclass(frozen=True)
class Intake:
    """The webhook listener's whole configuration (secrets resolved)."""

    listen: str
    host: str
    port: int
    endpoints: Mapping[str, Endpoint] = field(default_factory=dict)


@dataclass
class WebhookCheck:
    problems: list[str] = field(default_factory=list)
    intake: Intake | None = None  # None when there are no endpoints (no listener) or any problem


def check_webhooks(loaded: LoadedConfig, env: Mapping[str, str], discovery: Discovery | None = None) -> WebhookCheck:
    """Every webhook problem at once (pipelines.md §7.1, §7.2, §7.6), and the runtime config when none."""
    out = WebhookCheck()
    section = loaded.config.webhooks
    if not section.endpoints:
        return out
    secrets = _legacy_token_keys(loaded.raw.get("tokens"))
    raw_index = _raw_indexes(loaded)
    endpoints: dict[str, Endpoint] = {}
    seen: dict[str, int] = {}
    for position, spec in enumerate(section.endpoints):
        index = raw_index[position] if position < len(raw_index) else position
        loc = ("webhooks", "endpoints", str(index))
        here = f"webhook[{index}] ({spec.path})"

        def problem(message: str, loc: tuple[str, ...] = loc, here: str = here) -> None:
            out.problems.append(loaded.problem(loc, f"{here}: {message}"))

        count = len(out.problems)
        if not spec.path:
            problem("path is required (accepted: an exact URL path such as /webhook/github)")
        elif spec.path in seen:
            problem(f"path is used by webhook[{seen[spec.path]}] too (accepted: one endpoint per path)")
        seen.setdefault(spec.path, index)
        _plugin_problems(loaded, spec, discovery, problem)
        secret: str | None = None
        if not spec.secret_ref:
            problem("secret_ref is required")
        else:
            secret = resolve_secret_ref(spec.secret_ref, dict(env), secrets)
            if secret is None:
                problem(f'secret_ref "{spec.secret_ref}" not found ({SECRET_ACCEPTED})')
        if not spec.signature_header:
            problem("signature_header is required")
        if spec.signed_payload == "timestamp.body" and not spec.timestamp_header:
            problem("signed_payload timestamp.body requires timestamp_header (the header the timestamp is sent in)")
        if spec.max_skew is not None and not spec.timestamp_header:
            problem("max_skew requires timestamp_header (accepted: both, or neither)")
        if spec.delivery_ttl is not None and not spec.delivery_id_header:
            problem("delivery_ttl requires delivery_id_header (accepted: both, or neither)")
        if len(out.problems) == count and secret is not None:
            endpoints[spec.path] = _endpoint(spec, secret, loaded.config.service.dedupe_ttl)
    api = loaded.config.api
    if api.enabled and _same_address(api.listen, section.listen):
        out.problems.append(
            loaded.problem(
                ("webhooks", "listen"),
                f"{section.listen} is also api.listen (accepted: a different host:port for the webhook listener)",
            )
        )
    if not out.problems:
        out.intake = Intake(section.listen, section.host, section.port, endpoints)
    return out


def _plugin_problems(loaded: LoadedConfig, spec: WebhookEndpoint, discovery: Discovery | None, problem: Any) -> None:
    instance = loaded.config.plugins.get(spec.plugin) if spec.plugin else None
    if instance is None:
        known = ", ".join(sorted(loaded.config.plugins)) or "none configured"
        problem(f'plugin "{spec.plugin}" does not exist (accepted: a plugin instance under plugins: {known})')
        return
    if not instance.enabled:
        problem(f'plugin "{spec.plugin}" is disabled (accepted: an instance with enabled: true)')
        return
    plugin = discovery.plugins.get(instance.uses or spec.plugin) if discovery is not None else None
    if plugin is not None and "handle" not in plugin.manifest.command_names:
        problem(
            f'plugin "{spec.plugin}" has no handle command (webhook jobs always run handle; '
            f"it has: {', '.join(plugin.manifest.command_names)})"
        )


def _endpoint(spec: WebhookEndpoint, secret: str, dedupe_ttl: float) -> Endpoint:
    return Endpoint(
        path=spec.path,
        plugin=spec.plugin,
        signature_header=spec.signature_header.lower(),
        max_body_size=spec.max_body_size,
        rules=Rules(
            secret=secret.encode("utf-8"),
            timestamp_header=spec.timestamp_header is not None,
            max_skew=spec.max_skew if spec.max_skew is not None else DEFAULT_MAX_SKEW,
            signed_payload=spec.signed_payload,
        ),
        name=spec.name,
        timestamp_header=spec.timestamp_header.lower() if spec.timestamp_header else None,
        delivery_id_header=spec.delivery_id_header.lower() if spec.delivery_id_header else None,
        delivery_ttl=spec.delivery_ttl if spec.delivery_ttl is not None else dedupe_ttl,
    )


def _raw_indexes(loaded: LoadedConfig) -> list[int]:
    """The file position of each validated endpoint: an entry that is not a mapping was reported
    and left out, which shifts the later ones."""
    raw = loaded.raw.get("webhooks")
    entries = raw.get("endpoints") if isinstance(raw, dict) else raw
    if not isinstance(entries, list):
        return []
    return [
        i
        for i, entry in enumerate(entries)
        if isinstance(entry, dict) and ("webhooks", "endpoints", str(i)) not in loaded.dropped
    ]


def _same_address(a: str, b: str) -> bool:
    return a.strip().lower() == b.strip().lower()
