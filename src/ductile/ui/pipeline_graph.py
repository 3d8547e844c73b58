"""A compiled pipeline (`ductile.pipelines.compile.Pipeline`) laid out for a server-drawn SVG.

The compiled graph is what runs, so it is what we draw: `uses` steps, `core.switch` nodes (a gated
step's `if`, routing `true` to the step and `false` past it), `call` nodes, and the edges with
their event filters; a split shows as one node fanning out to several. Layers are longest-path
depths from the trigger (the graph is acyclic: compilation refuses cycles), top to bottom, so a
phone draws it narrow and tall. Pure: no I/O, no clock.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ductile.pipelines.compile import SWITCH_FALSE, SWITCH_TRUE, Pipeline
from ductile.pipelines.predicate import All, AnyOf, Atom, Condition, Not
from ductile.redact import redact_text

BOX_W = 176
BOX_H = 54
GAP_X = 28
GAP_Y = 56
MARGIN = 12
MAX_LABEL = 22  # characters in a box before it is cut (the full text is in the box's <title>)
EDGE_WORDS = {"": "", SWITCH_TRUE: "true", SWITCH_FALSE: "false"}


@dataclass
class Box:
    id: str
    kind: str  # trigger | uses | switch | call
    label: str
    detail: str  # one line under the label: plugin, condition, callee
    title: str  # the full description (SVG <title>: a tooltip and the accessible name)
    x: float = 0.0
    y: float = 0.0
    entry: bool = False
    terminal: bool = False

    @property
    def cx(self) -> float:
        return self.x + BOX_W / 2

    @property
    def short_label(self) -> str:
        return cut(self.label, MAX_LABEL + 4)

    @property
    def short_detail(self) -> str:
        return cut(self.detail, MAX_LABEL if self.kind == "switch" else MAX_LABEL + 4)  # a hexagon is narrower

    @property
    def points(self) -> str:
        """A switch is drawn as a hexagon (a decision), the rest as rectangles."""
        x, y, w, h, d = self.x, self.y, BOX_W, BOX_H, 14
        pts = [(x + d, y), (x + w - d, y), (x + w, y + h / 2), (x + w - d, y + h), (x + d, y + h), (x, y + h / 2)]
        return " ".join(f"{px:g},{py:g}" for px, py in pts)


@dataclass
class Arrow:
    source: str
    dest: str
    label: str
    path: str
    label_x: float
    label_y: float


@dataclass
class Drawing:
    name: str
    width: float
    height: float
    boxes: list[Box] = field(default_factory=list)
    arrows: list[Arrow] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)  # the text alternative, one per node


def describe(condition: Condition | None) -> str:
    """A condition as one short line: `payload.x eq "y"`, `all(…, …)`, `not …`."""
    if condition is None:
        return ""
    if isinstance(condition, Atom):
        value = "" if condition.op in ("exists", "not_exists") else " " + json.dumps(condition.value, default=str)
        return redact_text(f"{'.'.join(condition.path)} {condition.op}{value}")
    if isinstance(condition, All | AnyOf):
        word = "all" if isinstance(condition, All) else "any"
        return f"{word}({', '.join(describe(c) for c in condition.children)})"
    if isinstance(condition, Not):
        return f"not {describe(condition.child)}"
    return type(condition).__name__


def cut(text: str, limit: int = MAX_LABEL) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def trigger_text(p: Pipeline) -> str:
    if p.on_hook:
        return f"on-hook {p.on_hook}"
    return f"on {p.on}" + (f" from {p.from_plugin}" if p.from_plugin else "")


def depths(p: Pipeline) -> dict[str, int]:
    """Each node's layer: 1 + the longest path to it from an entry (entries are layer 1, the
    trigger is layer 0). Nodes no entry reaches (none, after compilation) go to layer 1."""
    layer = {node_id: 1 for node_id in p.entries}
    order = list(p.nodes)
    for _ in range(len(order) + 1):  # relax until stable; a DAG settles within len(nodes) passes
        changed = False
        for source in order:
            if source not in layer:
                continue
            for _flt, dest in p.edges.get(source, ()):
                if layer.get(dest, 0) < layer[source] + 1:
                    layer[dest] = layer[source] + 1
                    changed = True
        if not changed:
            break
    for node_id in order:
        layer.setdefault(node_id, 1)
    return layer


def _box(p: Pipeline, node_id: str) -> Box:
    node = p.nodes[node_id]
    if node.kind == "switch":
        condition = describe(node.condition)
        title = f"switch {node_id}: if {condition} then {node.gated}, else skip it"
        return Box(node_id, "switch", f"if → {node.gated}", condition, title)
    if node.kind == "call":
        return Box(node_id, "call", node_id, f"call {node.callee}", f"step {node_id}: call pipeline {node.callee}")
    return Box(node_id, "uses", node_id, f"uses {node.plugin}", f"step {node_id}: uses {node.plugin} (handle)")


def layout(p: Pipeline) -> Drawing:
    layer = depths(p)
    trigger = Box("__trigger", "trigger", trigger_text(p), p.execution_mode, f"trigger: {trigger_text(p)}")
    rows: dict[int, list[Box]] = {0: [trigger]}
    boxes: dict[str, Box] = {}
    for node_id in p.nodes:  # insertion order is document order: branches stay left to right
        box = _box(p, node_id)
        box.entry = node_id in p.entries
        box.terminal = node_id in p.terminals
        boxes[node_id] = box
        rows.setdefault(layer[node_id], []).append(box)
    widest = max(len(r) for r in rows.values())
    width = MARGIN * 2 + widest * BOX_W + (widest - 1) * GAP_X
    for depth, row in rows.items():
        span = len(row) * BOX_W + (len(row) - 1) * GAP_X
        left = (width - span) / 2
        for index, box in enumerate(row):
            box.x = left + index * (BOX_W + GAP_X)
            box.y = MARGIN + depth * (BOX_H + GAP_Y)
    height = MARGIN * 2 + (max(rows) + 1) * BOX_H + max(rows) * GAP_Y
    drawing = Drawing(p.name, width, height, [trigger, *boxes.values()])
    links = [(trigger, boxes[e], "") for e in p.entries if e in boxes]
    for source, out in p.edges.items():
        for flt, dest in out:
            if source in boxes and dest in boxes:
                links.append((boxes[source], boxes[dest], EDGE_WORDS.get(flt, flt)))
    for source, dest, label in links:
        drawing.arrows.append(_arrow(source, dest, label))
    for node_id, box in boxes.items():
        nexts = [
            f"{dest} (on {EDGE_WORDS.get(flt, flt)})" if EDGE_WORDS.get(flt, flt) else dest
            for flt, dest in p.edges.get(node_id, ())
        ]
        drawing.rows.append(
            {
                "id": node_id,
                "kind": box.kind,
                "what": box.detail,
                "entry": box.entry,
                "next": nexts,
                "end": box.terminal,
                "title": box.title,
            }
        )
    return drawing


def _arrow(source: Box, dest: Box, label: str) -> Arrow:
    """A curve from the bottom of `source` to the top of `dest`; its label sits a third of the
    way down, where arrows fanning out of one node are still apart."""
    x1, y1 = source.cx, source.y + BOX_H
    x2, y2 = dest.cx, dest.y - 4  # stop short so the arrowhead touches the box
    bend = max(24.0, (y2 - y1) / 2)
    path = f"M{x1:g},{y1:g} C{x1:g},{y1 + bend:g} {x2:g},{y2 - bend:g} {x2:g},{y2:g}"
    lx = x1 + (x2 - x1) * 0.3
    ly = y1 + (y2 - y1) * 0.3 + 4
    return Arrow(source.id, dest.id, cut(label, 24), path, lx, ly)
