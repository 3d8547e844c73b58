"""Property tests for compilation: any valid step tree compiles to unique ids and an acyclic graph
whose every node is reachable from an entry; one invalid step anywhere is reported at its path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ductile.pipelines.compile import compile_pipelines

PLUGINS = frozenset({"a", "b", "c"})
COND = {"path": "payload.go", "op": "eq", "value": True}


def _leaf(draw: Any) -> dict[str, Any]:
    step: dict[str, Any] = {"uses": draw(st.sampled_from(sorted(PLUGINS)))}
    if draw(st.booleans()):
        step["if"] = COND
    if draw(st.integers(0, 4)) == 0:
        step["id"] = f"s{draw(st.integers(0, 10**9))}"
    return step


@st.composite
def steps(draw: Any, depth: int = 0) -> list[dict[str, Any]]:
    out = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["leaf", "leaf", "steps", "split"] if depth < 3 else ["leaf"]))
        if kind == "leaf":
            out.append(_leaf(draw))
        else:
            out.append({kind: draw(steps(depth + 1))})
    return out


def _unique_ids(tree: list[dict[str, Any]]) -> bool:
    ids: list[str] = []

    def walk(items: list[dict[str, Any]]) -> None:
        for item in items:
            if "id" in item:
                ids.append(item["id"])
            for k in ("steps", "split"):
                if k in item:
                    walk(item[k])

    walk(tree)
    return len(ids) == len(set(ids))


@settings(max_examples=150, deadline=None)
@given(steps())
def test_valid_trees_compile_to_acyclic_graphs_with_unique_reachable_nodes(tree):
    if not _unique_ids(tree):
        return
    graph, report = compile_pipelines([(Path("/c.yaml"), [{"name": "p", "on": "t", "steps": tree}])], PLUGINS)
    assert report.problems == []
    p = graph.get("p")
    assert len(p.nodes) == len(set(p.nodes))
    seen: set[str] = set()
    order: list[str] = []

    def visit(n: str, stack: tuple[str, ...]) -> None:
        assert n not in stack, "cycle"
        seen.add(n)
        for _, dest in p.edges.get(n, ()):
            visit(dest, (*stack, n))
        order.append(n)

    for entry in p.entries:
        visit(entry, ())
    assert seen == set(p.nodes)
    assert p.max_depth >= 1 and p.terminals


BAD = [
    ({"relay": {"to": "x"}}, "relay steps are not supported"),
    ({"uses": "a", "call": "p"}, "step must define exactly one of"),
    ({"uses": "zzz"}, "references unknown plugin"),
    ({"steps": [{"uses": "a"}], "if": COND}, "if is only supported on uses and call steps"),
    ({"split": [{"uses": "a"}], "with": {"x": "y"}}, "with is only supported on uses steps"),
    ({"uses": "a", "if": {"path": "nope.x", "op": "exists"}}, "if: "),
]


@settings(max_examples=100, deadline=None)
@given(steps(), st.integers(0, len(BAD) - 1), st.integers(0, 50))
def test_one_invalid_step_anywhere_is_reported(tree, which, where):
    bad, fragment = BAD[which]
    containers: list[list[dict[str, Any]]] = [tree]

    def walk(items: list[dict[str, Any]]) -> None:
        for item in items:
            for k in ("steps", "split"):
                if k in item:
                    containers.append(item[k])
                    walk(item[k])

    walk(tree)
    target = containers[where % len(containers)]
    target.insert(where % (len(target) + 1), bad)
    _, report = compile_pipelines([(Path("/c.yaml"), [{"name": "p", "on": "t", "steps": tree}])], PLUGINS)
    assert any(fragment in p for p in report.problems), report.problems
