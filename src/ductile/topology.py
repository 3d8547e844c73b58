"""`GET /topology`: which plugin produces which event and which plugin consumes it. Pure, no I/O.

Ductile's console draws plugins as nodes and events ("signals") as edges. Producers are what the
manifests *declare* (`commands[].values.emit[].event`); consumers are what the compiled pipelines
*route* to each step (see `routed_inputs`). A plugin a route names but the
registry does not hold (disabled, or its plugin not found) is listed with `active: false` so the
picture shows the gap instead of hiding it.

`routing_pipelines` and `plugin_wiring` serve the dashboard's plugin page (its Wiring section):
they read the same walk and the same document, so the page and `GET /topology` cannot disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ductile.manifest import Manifest
from ductile.pipelines.compile import STEP_SUCCEEDED, SWITCH_FALSE, SWITCH_TRUE, Dispatch, Graph

Edge = tuple[str, str]  # (signal, command)
End = tuple[str, str]  # (plugin, command)
Routed = list[tuple[str, Dispatch]]  # (signal, the dispatch it reaches): routed_inputs' answer


def declared_emits(manifest: Manifest) -> list[Edge]:
    """(event, command) for every `values.emit[].event` a manifest declares; malformed entries are
    skipped (the manifest is the plugin author's documentation, not something to refuse over)."""
    out: list[Edge] = []
    for command in manifest.commands:
        emits = (command.values or {}).get("emit")
        if not isinstance(emits, list):
            continue
        for item in emits:
            event = item.get("event") if isinstance(item, dict) else None
            if isinstance(event, str) and event:
                out.append((event, command.name))
    return out


def routed_inputs(graph: Graph, manifests: Mapping[str, Manifest]) -> Routed:
    """(signal, dispatch) for every uses step of every pipeline and each event that can reach it.

    What reaches a step: the pipeline's trigger when the step is an entry (and whatever reaches a
    step that calls the pipeline); an edge's event type when the edge names one; over an
    unfiltered edge, the events the previous step's plugin declares (`values.emit`), or
    `ductile.step.succeeded` when it declares none (what a silent step sends on). A switch passes
    on what reached it. Switch nodes themselves are the router's, not plugins, so not listed."""
    callers: dict[str, list[tuple[str, str]]] = {}
    preds: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for name, pipeline in graph.pipelines.items():
        for source, edges in pipeline.edges.items():
            for flt, dest in edges:
                preds.setdefault((name, dest), []).append((source, flt))
        for node in pipeline.nodes.values():
            if node.kind == "call":
                callers.setdefault(node.callee, []).append((name, node.id))
    memo: dict[tuple[str, str], frozenset[str]] = {}

    def into(pipeline: str, node_id: str) -> frozenset[str]:
        key = (pipeline, node_id)
        if key not in memo:
            memo[key] = frozenset()  # compile refuses cycles; this only guards the recursion
            p = graph.pipelines[pipeline]
            out: set[str] = set()
            if node_id in p.entries:
                if p.on or p.on_hook:
                    out.add(p.on or p.on_hook)
                for caller in callers.get(pipeline, ()):
                    out |= into(*caller)
            for source, flt in preds.get(key, ()):
                node = p.nodes[source]
                if node.kind == "call":
                    continue  # no job runs as a call node, so nothing leaves it (§2.3)
                if flt in (SWITCH_TRUE, SWITCH_FALSE):
                    out |= into(pipeline, source)
                elif flt:
                    out.add(flt)
                else:
                    manifest = manifests.get(node.plugin)
                    declared = {e for e, _ in declared_emits(manifest)} if manifest is not None else set()
                    out |= declared or {STEP_SUCCEEDED}
            memo[key] = frozenset(out)
        return memo[key]

    found: list[tuple[str, Dispatch]] = []
    for name, pipeline in graph.pipelines.items():
        for node in pipeline.nodes.values():
            if node.kind == "uses":
                found.extend((s, Dispatch(name, node.id, node.plugin)) for s in into(name, node.id))
    return found


def topology(
    manifests: Mapping[str, Manifest],
    graph: Graph,
    version: str,
    captured_at: str,
    *,
    routed: Routed | None = None,
) -> dict[str, Any]:
    """The whole graph, every list sorted so two calls on the same config give the same bytes.

    `manifests` maps each running instance to its plugin's manifest; `routed` is
    `routed_inputs(graph, manifests)` when the caller already walked it."""
    outputs: dict[str, set[Edge]] = {}
    inputs: dict[str, set[Edge]] = {}
    producers: dict[str, set[End]] = {}
    consumers: dict[str, set[End]] = {}
    for instance, manifest in manifests.items():
        for event, command in declared_emits(manifest):
            outputs.setdefault(instance, set()).add((event, command))
            producers.setdefault(event, set()).add((instance, command))
    for signal, d in routed_inputs(graph, manifests) if routed is None else routed:
        inputs.setdefault(d.plugin, set()).add((signal, d.command))
        consumers.setdefault(signal, set()).add((d.plugin, d.command))
    plugins = []
    for name in sorted({*manifests, *inputs, *outputs}):
        manifest = manifests.get(name)
        entry: dict[str, Any] = {"name": name}
        if manifest is not None and manifest.version:
            entry["version"] = manifest.version
        entry.update(
            active=manifest is not None,
            inputs=_edges(inputs.get(name, ())),
            outputs=_edges(outputs.get(name, ())),
        )
        plugins.append(entry)
    signals = [
        {"name": s, "producers": _ends(producers.get(s, ())), "consumers": _ends(consumers.get(s, ()))}
        for s in sorted({*producers, *consumers})
    ]
    return {"version": version, "captured_at": captured_at, "plugins": plugins, "signals": signals}


def routing_pipelines(
    graph: Graph, manifests: Mapping[str, Manifest], *, routed: Routed | None = None
) -> dict[tuple[str, str], list[str]]:
    """(plugin, signal) -> the sorted names of the pipelines that route `signal` to a step of
    `plugin`. The same walk as `topology`'s inputs (`routed_inputs`), kept out of the document so
    `GET /topology` keeps Ductile's shape; the dashboard uses it to say *which* pipeline routes."""
    found: dict[tuple[str, str], set[str]] = {}
    for signal, dispatch in routed_inputs(graph, manifests) if routed is None else routed:
        found.setdefault((dispatch.plugin, signal), set()).add(dispatch.pipeline)
    return {key: sorted(names) for key, names in sorted(found.items())}


def wiring_of(manifests: Mapping[str, Manifest], graph: Graph, name: str) -> dict[str, list[dict[str, Any]]]:
    """One plugin's Receives and Sends (its dashboard page): the topology and the routing
    pipelines from one walk of the graph."""
    routed = routed_inputs(graph, manifests)
    doc = topology(manifests, graph, "", "", routed=routed)
    return plugin_wiring(doc, name, routing_pipelines(graph, manifests, routed=routed))


def plugin_wiring(
    doc: Mapping[str, Any], name: str, routes: Mapping[tuple[str, str], list[str]] | None = None
) -> dict[str, list[dict[str, Any]]]:
    """One plugin's slice of a `topology` document, grouped by event for its page.

    `receives`: each event routed to the plugin, with the plugins declaring it (`producers`, each
    with the commands that emit it) and the pipelines routing it (from `routes`, may be empty).
    `sends`: each event the plugin declares, with its emitting commands and the plugins it is
    routed to (`consumers`, each with the pipelines doing it). A plugin is `active` when the
    document lists it as running: only those have a page to link to. `implicit` marks the
    silent-step event, which no manifest declares because the router sends it."""
    routes = routes or {}
    signals = {s["name"]: s for s in doc.get("signals", ())}
    active = {p["name"] for p in doc.get("plugins", ()) if p.get("active")}
    entry = next((p for p in doc.get("plugins", ()) if p["name"] == name), {})

    def by_plugin(ends: Iterable[Mapping[str, str]], routed: str | None = None) -> list[dict[str, Any]]:
        """Ends grouped by plugin; with `routed` (a signal), each with the pipelines routing it there."""
        grouped: dict[str, set[str]] = {}
        for end in ends:
            grouped.setdefault(end["plugin"], set()).add(end["command"])
        out = []
        for plugin, commands in sorted(grouped.items()):
            item: dict[str, Any] = {"plugin": plugin, "commands": sorted(commands), "active": plugin in active}
            if routed is not None:
                item["pipelines"] = list(routes.get((plugin, routed), ()))
            out.append(item)
        return out

    def commands_by_signal(edges: Iterable[Mapping[str, str]]) -> dict[str, list[str]]:
        grouped: dict[str, set[str]] = {}
        for edge in edges:
            grouped.setdefault(edge["signal"], set()).add(edge["command"])
        return {signal: sorted(commands) for signal, commands in sorted(grouped.items())}

    receives = [
        {
            "signal": signal,
            "commands": commands,
            "producers": by_plugin(signals.get(signal, {}).get("producers", ())),
            "pipelines": list(routes.get((name, signal), ())),
            "implicit": signal == STEP_SUCCEEDED,
        }
        for signal, commands in commands_by_signal(entry.get("inputs", ())).items()
    ]
    sends = [
        {
            "signal": signal,
            "commands": commands,
            "consumers": by_plugin(signals.get(signal, {}).get("consumers", ()), routed=signal),
        }
        for signal, commands in commands_by_signal(entry.get("outputs", ())).items()
    ]
    return {"receives": receives, "sends": sends}


def _edges(pairs: Iterable[Edge]) -> list[dict[str, str]]:
    return [{"signal": s, "command": c} for s, c in sorted(pairs)]


def _ends(pairs: Iterable[End]) -> list[dict[str, str]]:
    return [{"plugin": p, "command": c} for p, c in sorted(pairs)]
