"""`routing_pipelines` and `plugin_wiring` (ductile/topology.py): the dashboard's Wiring section is
a slice of the `GET /topology` document plus which pipeline routes what — pure, no gateway."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ductile.manifest import Manifest
from ductile.pipelines.compile import compile_pipelines
from ductile.topology import plugin_wiring, routing_pipelines, topology, wiring_of


def manifest(name: str, emits: dict[str, list[str]] | None = None) -> Manifest:
    """A manifest whose commands declare `emits` ({command: [event, ...]}), plus `handle`."""
    commands: list[dict[str, Any]] = [
        {"name": c, "type": "read", "values": {"emit": [{"event": e} for e in events]}}
        for c, events in (emits or {}).items()
    ]
    if "handle" not in (emits or {}):
        commands.append({"name": "handle", "type": "write"})
    return Manifest(
        manifest_spec="ductile.plugin", manifest_version=1, name=name, protocol=2, entrypoint="run", commands=commands
    )


def wired(tmp_path: Path, pipelines: list[dict[str, Any]], manifests: dict[str, Manifest]) -> tuple[Any, Any]:
    graph, report = compile_pipelines([(tmp_path / "p.yaml", pipelines)], set(manifests))
    assert not report.problems, report.problems
    return topology(manifests, graph, "0", "now"), routing_pipelines(graph, manifests)


def test_routing_pipelines_names_each_pipeline_per_plugin_and_signal(tmp_path: Path) -> None:
    manifests = {"a": manifest("a", {"poll": ["a.done"]}), "b": manifest("b"), "c": manifest("c")}
    pipelines = [
        {"name": "first", "on": "a.done", "steps": [{"uses": "b"}, {"uses": "c"}]},
        {"name": "second", "on": "a.done", "steps": [{"uses": "b"}]},
        {"name": "later", "on": "go", "steps": [{"call": "inner"}]},
        {"name": "inner", "on": "never", "steps": [{"uses": "c"}]},
    ]
    graph, report = compile_pipelines([(tmp_path / "p.yaml", pipelines)], set(manifests))
    assert not report.problems, report.problems
    routes = routing_pipelines(graph, manifests)
    assert routes[("b", "a.done")] == ["first", "second"]
    assert routes[("c", "ductile.step.succeeded")] == ["first"]  # b declares nothing: the silent-step event
    # a called pipeline's step is routed by the callee, on its own trigger and on what reached the call
    assert routes[("c", "go")] == ["inner"] and routes[("c", "never")] == ["inner"]
    assert not any(plugin == "a" for plugin, _ in routes)


def test_plugin_wiring_of_a_producer_and_its_consumer(tmp_path: Path) -> None:
    manifests = {"a": manifest("a", {"poll": ["a.done"], "sync": ["a.done", "a.lonely"]}), "b": manifest("b")}
    doc, routes = wired(tmp_path, [{"name": "after-a", "on": "a.done", "steps": [{"uses": "b"}]}], manifests)
    a = plugin_wiring(doc, "a", routes)
    assert a["receives"] == []
    assert a["sends"] == [
        {
            "signal": "a.done",
            "commands": ["poll", "sync"],
            "consumers": [{"plugin": "b", "commands": ["handle"], "active": True, "pipelines": ["after-a"]}],
        },
        {"signal": "a.lonely", "commands": ["sync"], "consumers": []},
    ]
    b = plugin_wiring(doc, "b", routes)
    assert b["sends"] == []
    assert b["receives"] == [
        {
            "signal": "a.done",
            "commands": ["handle"],
            "producers": [{"plugin": "a", "commands": ["poll", "sync"], "active": True}],
            "pipelines": ["after-a"],
            "implicit": False,
        }
    ]


def test_plugin_wiring_marks_the_silent_step_event_and_unknown_names(tmp_path: Path) -> None:
    manifests = {"b": manifest("b"), "c": manifest("c")}
    doc, routes = wired(
        tmp_path, [{"name": "flow", "on": "ext.go", "steps": [{"uses": "b"}, {"uses": "c"}]}], manifests
    )
    b = plugin_wiring(doc, "b", routes)
    assert [(r["signal"], r["producers"], r["implicit"]) for r in b["receives"]] == [("ext.go", [], False)]
    c = plugin_wiring(doc, "c", routes)
    assert [(r["signal"], r["implicit"], r["pipelines"]) for r in c["receives"]] == [
        ("ductile.step.succeeded", True, ["flow"])
    ]
    assert plugin_wiring(doc, "nobody", routes) == {"receives": [], "sends": []}


def test_a_plugin_the_registry_does_not_run_is_not_active() -> None:
    """`active: false` entries (a routed name with no manifest) get no link on the page."""
    doc = {
        "plugins": [
            {"name": "a", "active": True, "inputs": [], "outputs": [{"signal": "x", "command": "poll"}]},
            {"name": "gone", "active": False, "inputs": [{"signal": "x", "command": "handle"}], "outputs": []},
        ],
        "signals": [
            {
                "name": "x",
                "producers": [{"plugin": "a", "command": "poll"}],
                "consumers": [{"plugin": "gone", "command": "handle"}],
            }
        ],
    }
    [sent] = plugin_wiring(doc, "a")["sends"]
    assert sent["consumers"] == [{"plugin": "gone", "commands": ["handle"], "active": False, "pipelines": []}]


def test_wiring_of_is_the_slice_of_the_topology_from_one_walk(tmp_path: Path) -> None:
    manifests = {
        "a": manifest("a", {"poll": ["a.done"]}),
        "b": manifest("b", {"handle": ["b.done"]}),
        "c": manifest("c"),
    }
    pipelines = [
        {"name": "first", "on": "a.done", "steps": [{"uses": "b"}, {"uses": "c"}]},
        {"name": "then", "on": "b.done", "steps": [{"uses": "c"}]},
    ]
    graph, report = compile_pipelines([(tmp_path / "p.yaml", pipelines)], set(manifests))
    assert not report.problems, report.problems
    doc, routes = topology(manifests, graph, "0", "now"), routing_pipelines(graph, manifests)
    for name in manifests:
        assert wiring_of(manifests, graph, name) == plugin_wiring(doc, name, routes)
    c = wiring_of(manifests, graph, "c")
    assert [(r["signal"], r["pipelines"]) for r in c["receives"]] == [("b.done", ["first", "then"])]
