"""Pipeline definitions → one immutable graph (spec pipelines.md §2). Pure, no I/O.

The graph answers the router's questions in O(1) lookups: which pipelines an event type starts,
which hook pipelines a signal starts, what follows a step for an event type, and what a pipeline's
entry dispatches are (calls expanded). Everything is frozen: the gateway compiles once at load.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ductile.pipelines.baggage import BaggageSpec
from ductile.pipelines.config import PipelineDef, Report, StepDef, parse_pipelines
from ductile.pipelines.predicate import Condition
from ductile.pipelines.template import Template

SWITCH_PLUGIN = "core.switch"
SWITCH_TRUE = "ductile.switch.true"
SWITCH_FALSE = "ductile.switch.false"
STEP_SUCCEEDED = "ductile.step.succeeded"


@dataclass(frozen=True)
class Node:
    pipeline: str
    id: str
    kind: str  # uses | call | switch
    plugin: str = ""  # instance for uses, "core.switch" for a switch, "" for a call
    callee: str = ""  # call nodes
    condition: Condition | None = None  # switch nodes
    gated: str = ""  # switch nodes: the gated node's id
    gated_plugin: str = ""  # switch nodes: the gated uses step's plugin (O6: its config is `config.*`)
    with_: Mapping[str, Template] = field(default_factory=lambda: MappingProxyType({}))
    baggage: BaggageSpec | None = None

    @property
    def command(self) -> str:
        return "handle"


@dataclass(frozen=True)
class Dispatch:
    """A job to create: `pipeline`/`step_id` name the node that runs (the callee's for calls)."""

    pipeline: str
    step_id: str
    plugin: str
    command: str = "handle"

    @property
    def route_key(self) -> str:
        return f"{self.pipeline}/{self.step_id}"


@dataclass(frozen=True)
class Pipeline:
    name: str
    on: str
    on_hook: str
    from_plugin: str
    condition: Condition | None
    execution_mode: str
    timeout: float
    max_depth: int  # effective budget: author's max_depth, else computed; 0 = unlimited
    entries: tuple[str, ...]
    terminals: frozenset[str]
    nodes: Mapping[str, Node]
    edges: Mapping[str, tuple[tuple[str, str], ...]]  # node → ((filter, destination), ...)
    file: str = ""


@dataclass(frozen=True)
class Graph:
    pipelines: Mapping[str, Pipeline]
    by_event: Mapping[str, tuple[str, ...]]
    by_signal: Mapping[str, tuple[str, ...]]
    _entries: Mapping[str, tuple[Dispatch, ...]]

    def get(self, name: str) -> Pipeline | None:
        return self.pipelines.get(name)

    def root_triggers(self, event_type: str) -> tuple[Pipeline, ...]:
        return tuple(self.pipelines[n] for n in self.by_event.get(event_type, ()))

    def hook_pipelines(self, signal: str) -> tuple[Pipeline, ...]:
        return tuple(self.pipelines[n] for n in self.by_signal.get(signal, ()))

    def entry_dispatches(self, pipeline: str) -> tuple[Dispatch, ...]:
        return self._entries.get(pipeline, ())

    def node(self, pipeline: str, step_id: str) -> Node | None:
        p = self.pipelines.get(pipeline)
        return None if p is None else p.nodes.get(step_id)

    def successors(self, pipeline: str, step_id: str, event_type: str) -> tuple[Dispatch, ...]:
        """Dispatches of every edge out of (pipeline, step) whose filter is "" or the event type.
        Edges out of a call node never fire (§2.3): no job runs as a call node."""
        p = self.pipelines.get(pipeline)
        if p is None:
            return ()
        node = p.nodes.get(step_id)
        if node is None or node.kind == "call":
            return ()
        out: list[Dispatch] = []
        for flt, dest in p.edges.get(step_id, ()):
            if flt in ("", event_type):
                out.extend(self.expand(pipeline, dest))
        return tuple(out)

    def expand(self, pipeline: str, node_id: str) -> tuple[Dispatch, ...]:
        """A destination node as dispatches: a call resolves to the callee's entries (recursively)."""
        node = self.pipelines[pipeline].nodes[node_id]
        if node.kind == "call":
            return self._entries.get(node.callee, ())
        return (Dispatch(pipeline, node.id, node.plugin),)

    @property
    def empty(self) -> bool:
        return not self.pipelines


EMPTY_GRAPH = Graph(MappingProxyType({}), MappingProxyType({}), MappingProxyType({}), MappingProxyType({}))


def compile_pipelines(
    sources: list[tuple[Any, Any]], plugins: frozenset[str] | set[str], report: Report | None = None
) -> tuple[Graph, Report]:
    """Parse and compile; problems and warnings go to the report. The graph holds only the
    pipelines without problems (a start refuses when `report.problems` is non-empty anyway)."""
    report = report if report is not None else Report()
    defs = parse_pipelines(sources, plugins, report)
    by_name = {d.name: d for d in defs}
    compiled: dict[str, _Compiled] = {}
    bad: set[str] = set()
    for d in defs:
        errors: list[str] = []
        c = _compile_one(d, plugins, errors, report)
        for callee in c.calls:
            if callee not in by_name:
                errors.append(f'pipeline "{d.name}" references unknown pipeline "{callee}"')
        if errors:
            report.problems.extend(f"{d.file}: {e}" for e in errors)
            bad.add(d.name)
        else:
            compiled[d.name] = c
    cycle = _call_cycle(compiled)
    if cycle:
        report.problems.append(f"pipeline call cycle detected: {' -> '.join(cycle)}")
        return EMPTY_GRAPH, report
    budgets: dict[str, int] = {}
    for name in sorted(compiled):
        _computed_max(name, compiled, budgets)
    pipelines: dict[str, Pipeline] = {}
    for name, c in compiled.items():
        if any(callee in bad for callee in c.calls):
            continue
        d = c.definition
        pipelines[name] = Pipeline(
            name=name,
            on=d.on,
            on_hook=d.on_hook,
            from_plugin=d.from_plugin,
            condition=d.condition,
            execution_mode=d.execution_mode,
            timeout=d.timeout,
            max_depth=d.max_depth if d.max_depth is not None else budgets[name],
            entries=c.entries,
            terminals=frozenset(n for n, _ in c.exits),
            nodes=MappingProxyType(dict(c.nodes)),
            edges=MappingProxyType({k: tuple(v) for k, v in c.edges.items()}),
            file=str(d.file),
        )
    entries: dict[str, tuple[Dispatch, ...]] = {}

    def entry_of(name: str) -> tuple[Dispatch, ...]:
        if name not in entries:
            p = pipelines[name]
            out: list[Dispatch] = []
            for node_id in p.entries:
                node = p.nodes[node_id]
                out.extend(entry_of(node.callee) if node.kind == "call" else [Dispatch(name, node.id, node.plugin)])
            entries[name] = tuple(out)
        return entries[name]

    for name in pipelines:
        entry_of(name)
    by_event: dict[str, list[str]] = {}
    by_signal: dict[str, list[str]] = {}
    for name in sorted(pipelines):
        p = pipelines[name]
        if p.on_hook:
            by_signal.setdefault(p.on_hook, []).append(name)
        else:
            by_event.setdefault(p.on, []).append(name)
    graph = Graph(
        pipelines=MappingProxyType(pipelines),
        by_event=MappingProxyType({k: tuple(v) for k, v in by_event.items()}),
        by_signal=MappingProxyType({k: tuple(v) for k, v in by_signal.items()}),
        _entries=MappingProxyType(entries),
    )
    return graph, report


@dataclass
class _Compiled:
    definition: PipelineDef
    nodes: dict[str, Node]
    edges: dict[str, list[tuple[str, str]]]
    entries: tuple[str, ...]
    exits: list[tuple[str, str]]
    calls: list[str]


class _Builder:
    def __init__(self, d: PipelineDef, plugins: frozenset[str] | set[str], errors: list[str], report: Report):
        self.d = d
        self.plugins = plugins
        self.errors = errors
        self.report = report
        self.counter = 0
        self.nodes: dict[str, Node] = {}
        self.edges: dict[str, list[tuple[str, str]]] = {}
        self.calls: list[str] = []
        self.taken: set[str] = set()

    def allocate(self, explicit: str | None) -> str | None:
        if explicit is not None:
            if explicit in self.taken:
                self.errors.append(f'pipeline "{self.d.name}": duplicate step id "{explicit}"')
                return None
            self.taken.add(explicit)
            return explicit
        while True:
            self.counter += 1
            candidate = f"step_{self.counter}"
            if candidate not in self.taken:
                self.taken.add(candidate)
                return candidate

    def edge(self, source: str, flt: str, dest: str) -> None:
        pair = (flt, dest)
        bucket = self.edges.setdefault(source, [])
        if pair not in bucket:
            bucket.append(pair)

    def item(self, step: StepDef) -> tuple[list[str], list[tuple[str, str]]]:
        if step.kind == "steps":
            return self.sequence(step.children, step.where)
        if step.kind == "split":
            entries: list[str] = []
            exits: list[tuple[str, str]] = []
            for child in step.children:
                e, x = self.item(child)
                entries.extend(n for n in e if n not in entries)
                exits.extend(p for p in x if p not in exits)
            return entries, sorted(exits)
        node_id = self.allocate(step.id)
        if node_id is None:
            return [], []
        if step.kind == "uses":
            if step.target not in self.plugins:
                self.errors.append(
                    f'pipeline "{self.d.name}" step "{node_id}" references unknown plugin "{step.target}"'
                )
            node = Node(self.d.name, node_id, "uses", plugin=step.target, with_=step.with_, baggage=step.baggage)
        else:
            self.calls.append(step.target)
            node = Node(self.d.name, node_id, "call", callee=step.target)
        self.nodes[node_id] = node
        if step.condition is None:
            return [node_id], [(node_id, "")]
        switch_id = self.allocate(f"{node_id}__switch")
        if switch_id is None:
            return [], []
        self.nodes[switch_id] = Node(
            self.d.name,
            switch_id,
            "switch",
            plugin=SWITCH_PLUGIN,
            condition=step.condition,
            gated=node_id,
            gated_plugin=node.plugin,
        )
        self.edge(switch_id, SWITCH_TRUE, node_id)
        return [switch_id], [(node_id, ""), (switch_id, SWITCH_FALSE)]

    def sequence(self, steps: tuple[StepDef, ...], where: str) -> tuple[list[str], list[tuple[str, str]]]:
        entries: list[str] = []
        exits: list[tuple[str, str]] = []
        for index, step in enumerate(steps):
            e, x = self.item(step)
            if index == 0:
                entries = e
            else:
                for source, flt in exits:
                    for dest in e:
                        self.edge(source, flt, dest)
            exits = x
            if step.kind == "call" and index < len(steps) - 1:
                self.report.warnings.append(
                    f'{self.d.file}: pipeline "{self.d.name}": {steps[index + 1].where}: steps after a call '
                    f'never run (call "{step.target}" does not return)'
                )
        return entries, exits


def _compile_one(d: PipelineDef, plugins: frozenset[str] | set[str], errors: list[str], report: Report) -> _Compiled:
    b = _Builder(d, plugins, errors, report)
    entries, exits = b.sequence(d.steps, "")
    if not errors and _has_cycle(b.nodes, b.edges):
        errors.append(f'pipeline "{d.name}": compiled pipeline graph contains a cycle')
    return _Compiled(d, b.nodes, b.edges, tuple(entries), exits, b.calls)


def _has_cycle(nodes: Mapping[str, Node], edges: Mapping[str, list[tuple[str, str]]]) -> bool:
    state: dict[str, int] = {}

    def visit(n: str) -> bool:
        state[n] = 1
        for _, dest in edges.get(n, ()):
            s = state.get(dest, 0)
            if s == 1 or (s == 0 and visit(dest)):
                return True
        state[n] = 2
        return False

    return any(state.get(n, 0) == 0 and visit(n) for n in nodes)


def _call_cycle(compiled: Mapping[str, _Compiled]) -> list[str] | None:
    """DFS over call edges in name order; the first cycle found, as a path a -> b -> a."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        stack.append(name)
        for callee in sorted(set(compiled[name].calls)):
            if callee not in compiled:
                continue
            if state.get(callee) == 1:
                return [*stack[stack.index(callee) :], callee]
            if state.get(callee, 0) == 0:
                found = visit(callee)
                if found:
                    return found
        stack.pop()
        state[name] = 2
        return None

    for name in sorted(compiled):
        if state.get(name, 0) == 0:
            found = visit(name)
            if found:
                return found
    return None


def _computed_max(name: str, compiled: Mapping[str, _Compiled], memo: dict[str, int]) -> int:
    """Longest path from any entry, a call node counting as its callee's computed max (min 1)."""
    if name in memo:
        return memo[name]
    c = compiled[name]
    weight: dict[str, int] = {}
    for node_id, node in c.nodes.items():
        if node.kind == "call":
            weight[node_id] = max(1, _computed_max(node.callee, compiled, memo)) if node.callee in compiled else 1
        else:
            weight[node_id] = 1
    longest: dict[str, int] = {}

    def path(n: str) -> int:
        if n not in longest:
            longest[n] = weight[n] + max((path(dest) for _, dest in c.edges.get(n, ())), default=0)
        return longest[n]

    memo[name] = max((path(e) for e in c.entries), default=0)
    return memo[name]
