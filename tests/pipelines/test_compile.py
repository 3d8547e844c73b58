"""Pipeline compilation (spec pipelines.md §1-§2): ids, edges, budgets, and every load error."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ductile.pipelines.compile import Dispatch, compile_pipelines

PLUGINS = frozenset({"a", "b", "c", "d", "e", "x", "A", "B", "Z"})
FILE = Path("/cfg/config.yaml")


def build(text: str, plugins: frozenset[str] = PLUGINS):
    return compile_pipelines([(FILE, yaml.safe_load(text))], plugins)


def ok(text: str):
    graph, report = build(text)
    assert report.problems == []
    return graph, report


def test_spec_2_2_example_nodes_edges_entry_and_terminal():
    graph, _ = ok("""
- name: p
  on: x
  steps: [{uses: a}, {split: [{uses: b}, {steps: [{uses: c}, {uses: d}]}]}, {uses: e}]
""")
    p = graph.get("p")
    assert [(n, p.nodes[n].plugin) for n in p.nodes] == [
        ("step_1", "a"),
        ("step_2", "b"),
        ("step_3", "c"),
        ("step_4", "d"),
        ("step_5", "e"),
    ]
    edges = sorted((src, dst) for src, out in p.edges.items() for _, dst in out)
    assert edges == [
        ("step_1", "step_2"),
        ("step_1", "step_3"),
        ("step_2", "step_5"),
        ("step_3", "step_4"),
        ("step_4", "step_5"),
    ]
    assert p.entries == ("step_1",) and p.terminals == {"step_5"}
    assert graph.entry_dispatches("p") == (Dispatch("p", "step_1", "a"),)


def test_spec_2_4_example_gated_step_budget_is_four_and_switch_wiring():
    graph, _ = ok("""
- name: g
  on: y
  steps: [{uses: a}, {uses: b, if: {path: payload.go, op: eq, value: true}}, {uses: c}]
""")
    p = graph.get("g")
    assert p.max_depth == 4
    assert list(p.nodes) == ["step_1", "step_2", "step_2__switch", "step_3"]
    assert graph.successors("g", "step_1", "ductile.step.succeeded") == (
        Dispatch("g", "step_2__switch", "core.switch"),
    )
    assert graph.successors("g", "step_2__switch", "ductile.switch.true") == (Dispatch("g", "step_2", "b"),)
    assert graph.successors("g", "step_2__switch", "ductile.switch.false") == (Dispatch("g", "step_3", "c"),)
    assert graph.successors("g", "step_3", "anything") == ()


def test_explicit_id_before_auto_skips_the_counter_and_after_it_is_a_duplicate():
    graph, _ = ok("""
- name: p
  on: x
  steps: [{id: step_2, uses: a}, {uses: b}, {uses: c}]
""")
    assert list(graph.get("p").nodes) == ["step_2", "step_1", "step_3"]
    _, report = build("""
- name: p
  on: x
  steps: [{uses: a}, {uses: b}, {id: step_2, uses: c}]
""")
    assert any('duplicate step id "step_2"' in p for p in report.problems)


def test_call_expands_to_the_callee_entries_and_steps_after_it_warn():
    graph, report = ok("""
- name: p
  on: x
  steps: [{uses: A}, {call: q}, {uses: Z}]
- name: q
  on: qq
  steps: [{uses: x}, {uses: b}]
""")
    assert graph.successors("p", "step_1", "t") == (Dispatch("q", "step_1", "x"),)
    assert graph.get("p").max_depth == 1 + 2 + 1
    assert any("steps after a call never run" in w and "steps[2]" in w for w in report.warnings)


def test_root_triggers_and_hook_pipelines_are_looked_up_by_type_and_signal():
    graph, _ = ok("""
- {name: b2, on: t, steps: [{uses: a}]}
- {name: a1, on: t, steps: [{uses: b}]}
- {name: h, on-hook: job.failed, steps: [{uses: c}]}
""")
    assert [p.name for p in graph.root_triggers("t")] == ["a1", "b2"]
    assert [p.name for p in graph.hook_pipelines("job.failed")] == ["h"]
    assert graph.root_triggers("job.failed") == ()


def test_author_max_depth_replaces_the_computed_one_and_timeout_default():
    graph, _ = ok("""
- {name: p, on: t, max_depth: 0, timeout: 2m, execution_mode: synchronous, steps: [{uses: a}, {uses: b}]}
- {name: q, on: t, steps: [{uses: a}]}
""")
    assert graph.get("p").max_depth == 0 and graph.get("p").timeout == 120.0
    assert graph.get("q").timeout == 30.0 and graph.get("q").execution_mode == "async"


def test_pipelines_from_several_files_concatenate_in_path_order():
    graph, report = compile_pipelines(
        [
            (Path("/z.yaml"), [{"name": "z", "on": "t", "steps": [{"uses": "a"}]}]),
            (Path("/a.yaml"), [{"name": "z", "on": "t", "steps": [{"uses": "b"}]}]),
        ],
        PLUGINS,
    )
    assert report.problems == ['/z.yaml: duplicate pipeline name "z"']
    assert graph.get("z").nodes["step_1"].plugin == "b"


ERRORS: list[tuple[str, str]] = [
    ("[{on: t, steps: [{uses: a}]}]", "pipelines[0]: name is required"),
    ("[{name: p, on: t, steps: [{uses: a}]}, {name: p, on: u, steps: [{uses: a}]}]", 'duplicate pipeline name "p"'),
    ("[{name: p, steps: [{uses: a}]}]", "on or on-hook is required"),
    ("[{name: p, on: t, on-hook: job.failed, steps: [{uses: a}]}]", "on and on-hook are mutually exclusive"),
    ("[{name: p, on: t, steps: []}]", "steps must be non-empty"),
    ("[{name: p, on: t, if: {path: nope.x, op: exists}, steps: [{uses: a}]}]", 'pipeline "p": if: '),
    (
        "[{name: p, on-hook: job.failed, if: {path: context.x, op: exists}, steps: [{uses: a}]}]",
        "on-hook trigger predicate cannot reference context.*",
    ),
    ("[{name: p, on: t, max_depth: -1, steps: [{uses: a}]}]", "max_depth must be >= 0"),
    (
        "[{name: p, on: t, steps: [{uses: a, call: p}]}]",
        "step must define exactly one of uses, call, relay, steps, or split",
    ),
    (
        "[{name: p, on: t, steps: [{call: q, with: {a: b}}]}, {name: q, on: u, steps: [{uses: a}]}]",
        "with is only supported on uses steps",
    ),
    (
        "[{name: p, on: t, steps: [{split: [{uses: a}], baggage: {a: payload.a}}]}]",
        "baggage is only supported on uses steps",
    ),
    ("[{name: p, on: t, steps: [{uses: a, baggage: [1]}]}]", "baggage must be a mapping"),
    ("[{name: p, on: t, steps: [{uses: a, baggage: {'': payload.a}}]}]", "baggage keys must be non-empty"),
    ("[{name: p, on: t, steps: [{uses: a, baggage: {x: [1]}}]}]", "baggage.x must be a scalar string"),
    ("[{name: p, on: t, steps: [{uses: a, baggage: {x: ''}}]}]", "baggage.x must be non-empty"),
    ("[{name: p, on: t, steps: [{uses: a, baggage: {namespace: n}}]}]", "baggage namespace requires from"),
    ("[{name: p, on: t, steps: [{uses: a, baggage: {from: payload}}]}]", "baggage from requires namespace"),
    (
        "[{name: p, on: t, steps: [{uses: a, baggage: {from: context.x, namespace: n}}]}]",
        "must reference payload or payload.<path>",
    ),
    (
        "[{name: p, on: t, steps: [{uses: a, baggage: {a..b: payload.a}}]}]",
        'invalid baggage path "a..b": path segments must be non-empty',
    ),
    (
        "[{name: p, on: t, steps: [{uses: a, baggage: {1a: payload.a}}]}]",
        'path segment "1a" must use letters, digits, or underscore',
    ),
    ("[{name: p, on: t, steps: [{uses: a, baggage: {ductile.x: payload.a}}]}]", "is reserved"),
    ("[{name: p, on: t, steps: [{id: s, uses: a}, {id: s, uses: b}]}]", 'duplicate step id "s"'),
    ("[{name: p, on: t, steps: [{call: nope}]}]", 'pipeline "p" references unknown pipeline "nope"'),
    (
        "[{name: a, on: t, steps: [{call: b}]}, {name: b, on: u, steps: [{call: a}]}]",
        "pipeline call cycle detected: a -> b -> a",
    ),
    ("[{name: p, on: t, steps: [{uses: nope}]}]", 'pipeline "p" step "step_1" references unknown plugin "nope"'),
    (
        "[{name: p, on: t, from_plugin: nope, steps: [{uses: a}]}]",
        'pipeline "p": from_plugin references unknown plugin "nope"',
    ),
    ("[{name: p, on: t, steps: [{relay: {to: x, event: y}}]}]", "relay steps are not supported"),
    (
        "[{name: p, on: t, steps: [{steps: [{uses: a}], if: {path: payload.a, op: exists}}]}]",
        "if is only supported on uses and call steps",
    ),
    ("[{name: p, on-hook: job.done, steps: [{uses: a}]}]", 'on-hook "job.done" is not a hook signal'),
    ("[{name: p, on: t, execution_mode: sync, steps: [{uses: a}]}]", "execution_mode must be async or synchronous"),
    ("[{name: p, on: t, timeout: 30, steps: [{uses: a}]}]", "timeout must be a duration string"),
    (
        "[{name: p, on-hook: job.failed, steps: [{uses: a, if: {path: payload.x, op: exists}}]}]",
        "if on the entry step of an on-hook pipeline never runs",
    ),
    ("[{name: p, on: t, if: {all: []}, steps: [{uses: a}]}]", 'pipeline "p": if: '),
    ("[{name: p, on: t, steps: [{uses: a, with: {m: '{payload.x'}}]}]", "unclosed {"),
]


@pytest.mark.parametrize(("text", "fragment"), ERRORS, ids=[f for _, f in ERRORS])
def test_every_load_error_is_reported_with_the_file(text: str, fragment: str):
    _, report = build(text)
    assert any(fragment in p for p in report.problems), report.problems
    assert all(p.startswith(str(FILE)) or p.startswith("pipeline call cycle") for p in report.problems)


WARNINGS: list[tuple[str, str]] = [
    ("[{name: p, on: t, colour: red, steps: [{uses: a}]}]", "pipelines[0].colour: unknown key (ignored)"),
    ("[{name: p, on: t, steps: [{uses: a, extra: 1}]}]", "pipelines[0].steps[0].extra: unknown key (ignored)"),
    ("[{name: p, on-hook: job.failed, steps: [{uses: a}, {uses: b}]}]", "steps after the entry of an on-hook pipeline"),
    ("[{name: p, on-hook: job.failed, steps: [{uses: a, with: {m: x}}]}]", "with is ignored on the entry step"),
    ("[{name: p, on-hook: job.failed, steps: [{uses: a, baggage: {x: payload.x}}]}]", "baggage is ignored"),
    ("[{name: p, on: ductile.step.succeeded, steps: [{uses: a}]}]", "internal event type"),
]


@pytest.mark.parametrize(("text", "fragment"), WARNINGS, ids=[f for _, f in WARNINGS])
def test_ours_lints_are_warnings_never_errors(text: str, fragment: str):
    _, report = build(text)
    assert report.problems == []
    assert any(fragment in w for w in report.warnings), report.warnings


def test_with_scalars_become_strings_and_nested_values_are_errors():
    graph, _ = ok("[{name: p, on: t, steps: [{uses: a, with: {n: 3, b: true}}]}]")
    assert set(graph.get("p").nodes["step_1"].with_) == {"n", "b"}
    _, report = build("[{name: p, on: t, steps: [{uses: a, with: {n: {x: 1}}}]}]")
    assert any("with.n" in p for p in report.problems)
