"""`/ui/plugins` and `/ui/plugins/{name}`: every plugin instance's manifest, its commands with
their input/output schemas, the instance's config, schedules and persisted state.

The page needs `plugin:catalog:ro`, the scope of `GET /plugin/{name}` and `GET /plugin-state`,
whose data it shows: a token that cannot read those through the API cannot read them here.
The manifest view is `api.routers.plugins.describe` (the API's own dict), and config and state go
through `ductile.redact` like every other read surface, because plugins keep credentials there.
Schemas are shown twice on purpose: a field table people can scan, and the exact JSON for
whoever writes a payload.

The Wiring section (who sends this plugin events, who receives its events) is a slice of
`GET /topology`, built from the same inputs by the same rule (`topology_sources`,
`ductile.topology`). It shows how the whole automation is wired — other plugins and pipelines,
not only this manifest — so it needs `system:ro` like `GET /topology`; without it the page says
so and holds none of that data.

The Latency section (ui/latency.py) is `GET /stopwatch/{plugin}` read through the API's own
function and limit; it needs `jobs:status:ro` like that route.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse

from ductile.api.routers.diagnostics import topology_sources
from ductile.api.routers.plugins import describe, summary
from ductile.redact import redact
from ductile.topology import wiring_of
from ductile.ui.auth import UiSession, needs
from ductile.ui.latency import latency_section
from ductile.ui.pages import page_router
from ductile.ui.render import page

router = page_router()

SCOPE = "plugin:catalog:ro"
WIRING_SCOPE = "system:ro"  # the scope of GET /topology, whose data the Wiring section shows
MAX_JSON_CHARS = 64 * 1024  # a state blob past this is cut in the page (the API has it whole)
MAX_SCHEMA_DEPTH = 4  # nested object properties listed this deep; the full JSON is beside them


@dataclass(frozen=True)
class Field:
    """One row of a schema's field table: `path` is dotted for nested objects (`auth.user`)."""

    path: str
    type: str
    required: bool
    description: str
    notes: str  # enum, default, format, bounds: the constraints a caller trips over


def schema_fields(schema: dict[str, Any] | None, *, prefix: str = "", depth: int = 0) -> list[Field]:
    """The properties of an object schema as rows, nested objects (and arrays of objects) flattened
    to dotted paths; a schema that is not an object with properties gives no rows (the JSON
    view still shows it)."""
    if not isinstance(schema, dict) or depth >= MAX_SCHEMA_DEPTH:
        return []
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return []
    required = set(schema.get("required") or []) if isinstance(schema.get("required"), list) else set()
    rows: list[Field] = []
    for name, spec in properties.items():
        spec = spec if isinstance(spec, dict) else {}
        path = f"{prefix}{name}"
        rows.append(
            Field(
                path=path,
                type=type_label(spec),
                required=name in required,
                description=str(spec.get("description") or spec.get("title") or ""),
                notes=constraint_notes(spec, str(name)),
            )
        )
        rows.extend(schema_fields(spec, prefix=path + ".", depth=depth + 1))
        items = spec.get("items")
        if isinstance(items, dict):
            rows.extend(schema_fields(items, prefix=path + "[].", depth=depth + 1))
    return rows


def type_label(spec: dict[str, Any]) -> str:
    """`string`, `integer | null`, `array of string`, `one of: …`; `any` when nothing says."""
    kind = spec.get("type")
    if isinstance(kind, list):
        label = " | ".join(str(k) for k in kind)
    elif kind:
        label = str(kind)
    elif "enum" in spec:
        label = "enum"
    elif "const" in spec:
        label = "const"
    else:
        alternatives = spec.get("oneOf") or spec.get("anyOf")
        if isinstance(alternatives, list) and alternatives:
            return "one of: " + ", ".join(type_label(a) if isinstance(a, dict) else "any" for a in alternatives)
        return str(spec["$ref"]) if "$ref" in spec else "any"
    items = spec.get("items")
    if kind == "array" and isinstance(items, dict):
        label += " of " + type_label(items)
    return label


def constraint_notes(spec: dict[str, Any], name: str = "") -> str:
    """Constraints in words; a default under a secret-looking field name is masked like any value."""
    parts = []
    if isinstance(spec.get("enum"), list):
        parts.append("one of " + ", ".join(json.dumps(v) for v in spec["enum"][:20]))
    if "const" in spec:
        parts.append("always " + json.dumps(spec["const"], default=str))
    if "default" in spec:
        parts.append("default " + json.dumps(redact(spec["default"], name), default=str))
    for key in ("format", "pattern", "minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems"):
        if key in spec:
            parts.append(f"{key} {spec[key]}")
    return "; ".join(parts)


def every_label(seconds: float | None) -> str:
    """`3600.0` -> `1h`, `90` -> `1m 30s`: how people write intervals in the config."""
    if not seconds:
        return ""
    rest, parts = int(seconds), []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    if rest or not parts:
        parts.append(f"{rest}s" if seconds == int(seconds) else f"{seconds % 60:g}s")
    return " ".join(parts)


def pretty(value: Any) -> str:
    """Indented JSON for a `<pre>`, cut at `MAX_JSON_CHARS` with a note saying so."""
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    if len(text) > MAX_JSON_CHARS:
        return text[:MAX_JSON_CHARS] + f"\n… cut at {MAX_JSON_CHARS} characters (GET /plugin-state has it whole)"
    return text


def instance_settings(inst: Any) -> dict[str, Any]:
    """The instance's own config block and the limits set on it, redacted: config values are
    credentials as often as not (API keys, passwords)."""
    spec = inst.spec
    return {
        "uses": spec.uses,
        "config": redact(spec.config),
        "timeouts": {k: v for k, v in spec.timeouts.items()},
        "retry": spec.retry.model_dump(mode="json"),
        "parallelism": inst.parallelism,
        "max_outstanding_polls": spec.max_outstanding_polls,
        "notify_on_complete": spec.notify_on_complete,
        "circuit_breaker": spec.circuit_breaker.model_dump(mode="json"),
    }


def wiring(gw: Any, name: str) -> dict[str, list[dict[str, Any]]]:
    """`name`'s Receives and Sends, from the whole topology the API would return right now."""
    return wiring_of(*topology_sources(gw), name)


@router.get("/plugins", response_class=HTMLResponse)
async def plugins(request: Request, session: UiSession = Depends(needs(SCOPE))) -> HTMLResponse:
    gw = request.app.state.gateway
    states = gw.store.all_states()
    rows = [
        {
            **summary(inst),
            "schedules": len(inst.spec.schedules),
            "state_keys": len(states.get(name) or {}),
        }
        for name, inst in sorted(gw.registry.instances.items())
    ]
    return page(request, session, "plugins.html", title="Plugins", active="/ui/plugins", rows=rows)


@router.get("/plugins/{name}", response_class=HTMLResponse)
async def plugin(name: str, request: Request, session: UiSession = Depends(needs(SCOPE))) -> HTMLResponse:
    gw = request.app.state.gateway
    inst = gw.registry.get(name)
    if inst is None:
        known = ", ".join(sorted(gw.registry.instances)) or "none"
        return page(
            request,
            session,
            "error.html",
            title="Unknown plugin",
            status=404,
            active="/ui/plugins",
            message=f"No plugin instance named {name[:80]!r} (known: {known}).",
        )
    detail = describe(inst)
    commands = [
        {
            **command,
            "input_fields": schema_fields(command["input_schema"]),
            "output_fields": schema_fields(command["output_schema"]),
            "input_json": pretty(command["input_schema"]) if command["input_schema"] else None,
            "output_json": pretty(command["output_schema"]) if command["output_schema"] else None,
        }
        for command in detail["commands"]
    ]
    schedules = [{**s, "every": every_label(s["every_seconds"])} for s in detail["schedules"]]
    state = redact(gw.store.get_state(name))
    latency = await latency_section(request, session, name)
    return page(
        request,
        session,
        "plugin.html",
        title=f"Plugin {name}",
        status=400 if latency["error"] else 200,
        active="/ui/plugins",
        latency=latency,
        plugin=detail,
        commands=commands,
        schedules=schedules,
        directory=str(inst.plugin.directory),
        settings=pretty(instance_settings(inst)),
        config_empty=not inst.spec.config,
        state=pretty(state) if state else None,
        wiring=wiring(gw, name) if session.allows(WIRING_SCOPE) else None,
        wiring_scope=WIRING_SCOPE,
    )
