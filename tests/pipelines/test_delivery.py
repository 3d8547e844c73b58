"""What a step receives (spec pipelines.md §4) and how routing decides (§3.2), as pure functions."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from ductile.pipelines import delivery, router
from ductile.pipelines.compile import Dispatch, compile_pipelines

T0 = datetime(2026, 11, 29, 10, 0, 0, tzinfo=UTC)


def graph(text: str):
    g, report = compile_pipelines([(Path("/c.yaml"), yaml.safe_load(text))], {"A", "B", "C", "S"})
    assert report.problems == []
    return g


def ctx(pipeline="p", step="step_2", depth=2, max_depth=3, chain=1, **baggage) -> router.SourceContext:
    control = {"pipeline_instance_id": "i1", "route_depth": depth, "chain_depth": chain}
    if max_depth:
        control["route_max_depth"] = max_depth
    return router.SourceContext("c1", pipeline, step, "i1", {**baggage, "ductile": control})


def test_request_context_lists_the_row_and_the_control_keys():
    out = delivery.request_context("B", None, ctx(run={"id": "r1"}))
    assert out == {
        "ductile_plugin": "B",
        "run": {"id": "r1"},
        "ductile": {"pipeline_instance_id": "i1", "route_depth": 2, "chain_depth": 1, "route_max_depth": 3},
        "ductile_pipeline": "p",
        "ductile_step_id": "step_2",
        "ductile_pipeline_instance_id": "i1",
        "ductile_route_depth": 2,
        "ductile_route_max_depth": 3,
    }
    assert delivery.request_context("B", None, None) == {"ductile_plugin": "B"}


def test_request_event_promotes_raw_bodies_merges_context_and_the_payload_wins():
    g = graph("[{name: p, on: x, steps: [{uses: A}]}]")
    raw = delivery.request_event({"url": "u", "title": "t"}, {"ductile_plugin": "A", "title": "ctx"}, g, None)
    assert raw["type"] == "" and raw["payload"] == {"url": "u", "title": "t", "ductile_plugin": "A"}
    assert raw["timestamp"] == "0001-01-01T00:00:00Z"
    typed = delivery.request_event({"type": "x", "url": "u"}, {"ductile_plugin": "A"}, g, None)
    assert typed["payload"] == {"ductile_plugin": "A"}  # a typed body without payload loses its data [D]


def test_with_renders_from_one_snapshot_and_a_missing_path_names_pipeline_step_and_key():
    g = graph("""
- name: p
  on: x
  steps:
    - uses: A
    - uses: B
      with: {n: "{payload.count}", s: "x={payload.count}", lit: payload.count, who: "{context.ductile_plugin}"}
    - uses: C
      with: {m: "{payload.missing}"}
""")
    stored = {"type": "t", "payload": {"count": 3}}
    event = delivery.request_event(stored, {"ductile_plugin": "B"}, g, ctx(step="step_2"))
    assert {k: event["payload"][k] for k in ("n", "s", "lit", "who")} == {
        "n": 3,
        "s": "x=3",
        "lit": "payload.count",
        "who": "B",
    }
    with pytest.raises(delivery.DeliveryError, match=r"apply with remap for p/step_3: m: resolve .*path not found"):
        delivery.request_event(stored, {}, g, ctx(step="step_3"))


def test_a_stored_payload_that_is_not_an_object_fails_to_unmarshal():
    with pytest.raises(delivery.DeliveryError, match="failed to unmarshal event payload"):
        delivery.request_event([1, 2], {}, graph("[{name: p, on: x, steps: [{uses: A}]}]"), None)


def test_switch_reads_payload_context_and_the_gated_plugins_config():
    g = graph("""
- name: p
  on: x
  steps:
    - uses: A
    - {uses: B, if: {all: [{path: payload.n, op: gt, value: 1}, {path: config.mode, op: eq, value: live}]}}
""")
    sw = ctx(step="step_2__switch")
    stored = {"type": "t", "payload": {"n": 2}, "event_id": "e1", "source": "A"}
    event, result = delivery.decide_switch(stored, g, sw, {}, {"B": {"mode": "live"}})
    assert result == {"matched": True, "event": "ductile.switch.true"}
    assert event == {**stored, "type": "ductile.switch.true"}
    _, result = delivery.decide_switch(stored, g, sw, {}, {"B": {"mode": "test"}})
    assert result["matched"] is False
    with pytest.raises(delivery.DeliveryError, match=r"core\.switch evaluate condition"):
        delivery.decide_switch({"type": "t", "payload": {"n": "2"}}, g, sw, {}, {"B": {"mode": "live"}})
    with pytest.raises(delivery.DeliveryError, match=r"core\.switch node / missing condition"):
        delivery.decide_switch(stored, g, None, {}, {})


def test_result_injection_and_the_synthetic_step_event():
    events = router.events_to_route([{"type": "a"}, {"type": "b", "payload": {"result": "own"}}], "r", True)
    assert [e["payload"] for e in events] == [{"result": "r"}, {"result": "own"}]
    assert router.events_to_route([], "r", True) == [{"type": "ductile.step.succeeded", "payload": {"result": "r"}}]
    assert router.events_to_route([], "r", False) == []
    assert router.events_to_route([{"type": "a"}], "  ", True) == [{"type": "a"}]


def test_stamping_keeps_given_ids_and_fills_the_rest():
    out = router.stamp({"type": "a", "event_id": "e1", "dedupe_key": " k "}, T0, "S")
    assert out == {
        "type": "a",
        "payload": None,
        "dedupe_key": "k",
        "source": "S",
        "timestamp": "2026-11-29T10:00:00.000000Z",
        "event_id": "e1",
    }
    assert router.stamp({"type": "a"}, T0, "S")["event_id"]


def test_transitions_obey_the_depth_rule_and_root_triggers_start_fresh():
    g = graph("""
- {name: p, on: x, steps: [{uses: A}, {uses: B}, {uses: C}]}
- {name: q, on: ductile.step.succeeded, from_plugin: A, steps: [{uses: S}, {uses: C}]}
""")
    event = {"type": "ductile.step.succeeded", "payload": {}}
    found, _ = router.candidates(g, event, "A", ctx(step="step_1", depth=1, max_depth=3), max_chain_depth=20)
    assert [(c.dispatch, c.route_depth, c.route_max_depth, c.root_trigger) for c in found] == [
        (Dispatch("p", "step_2", "B"), 2, 3, False),
        (Dispatch("q", "step_1", "S"), 1, 2, True),
    ]
    assert found[1].chain_depth == 2
    blocked, _ = router.candidates(g, event, "B", ctx(step="step_2", depth=3, max_depth=3), max_chain_depth=20)
    assert blocked == []


def test_a_trigger_condition_that_errors_skips_only_its_pipeline(caplog):
    g = graph("""
- {name: p3, on: x, if: {path: payload.n, op: gt, value: 5}, steps: [{uses: A}]}
- {name: p4, on: x, if: {path: payload.s, op: gt, value: 5}, steps: [{uses: B}]}
""")
    with caplog.at_level(logging.WARNING):
        found, _ = router.candidates(g, {"type": "x", "payload": {"n": 7, "s": "7"}}, "S", None, max_chain_depth=20)
    assert [c.dispatch.pipeline for c in found] == ["p3"]
    assert any("route skipped" in r.getMessage() for r in caplog.records)


def test_a_blank_event_type_is_a_routing_error():
    with pytest.raises(router.RoutingError, match=r'resolve routes for event "": event\.type is required'):
        router.candidates(graph("[{name: p, on: x, steps: [{uses: A}]}]"), {"type": " "}, "S", None, max_chain_depth=20)
