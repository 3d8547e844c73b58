"""Pure pieces of the job detail and pipelines pages: the tree nesting, the stderr tail, and the
layout of a compiled pipeline (layers, split fan-out, switch edges)."""

from __future__ import annotations

from pathlib import Path

from ductile.pipelines.compile import compile_pipelines
from ductile.ui.job_view import nest, stderr_tail
from ductile.ui.pipeline_graph import depths, describe, layout


def _item(job_id: str, parent: str | None = None, status: str = "succeeded") -> dict:
    item = {"job_id": job_id, "plugin": "p", "command": "handle", "status": status}
    if parent:
        item["parent_job_id"] = parent
    return item


def test_nest_builds_the_tree_in_api_order_and_notes_activity() -> None:
    items = [_item("r"), _item("a", "r"), _item("b", "r", "running"), _item("a1", "a", "failed")]
    tree = nest(items, {"a": {"step_id": "step-a", "pipeline": "p1"}})
    assert tree is not None and tree.root.job_id == "r"
    assert [c.job_id for c in tree.root.children] == ["a", "b"]
    assert tree.root.children[0].step_id == "step-a" and tree.root.children[0].children[0].status == "failed"
    assert tree.active and tree.total == 4 and tree.ids == ["r", "a", "b", "a1"]
    assert nest([], {}) is None


def test_nest_cuts_a_huge_family_at_the_limit() -> None:
    items = [_item("r")] + [_item(f"c{i}", "r") for i in range(10)]
    tree = nest(items, {}, limit=4)
    assert tree is not None and len(tree.ids) == 4 and tree.total == 11 and not tree.active


def test_stderr_tail_keeps_the_last_lines() -> None:
    text = "\n".join(f"line {i}" for i in range(100))
    tail, cut = stderr_tail(text, lines=3)
    assert tail == "line 97\nline 98\nline 99" and cut
    assert stderr_tail("short", lines=3) == ("short", False)
    assert stderr_tail(None) == ("", False)
    assert stderr_tail("x" * 50, chars=10) == ("x" * 10, True)


def test_layout_of_a_split_and_a_switch(tmp_path: Path) -> None:
    raw = [
        {
            "name": "flow",
            "on": "go",
            "steps": [
                {"id": "a", "uses": "w"},
                {"split": [{"id": "b", "uses": "w"}, {"id": "c", "uses": "w", "if": {"path": "payload.x", "op": "eq", "value": 1}}]},
                {"id": "d", "uses": "w"},
            ],
        }
    ]
    graph, report = compile_pipelines([(tmp_path / "p.yaml", raw)], {"w"})
    assert not report.problems, report.problems
    p = graph.get("flow")
    layer = depths(p)
    assert layer["a"] == 1 and layer["b"] == 2 and layer["c__switch"] == 2 and layer["c"] == 3 and layer["d"] == 4
    drawing = layout(p)
    kinds = {b.id: b.kind for b in drawing.boxes}
    assert kinds["c__switch"] == "switch" and kinds["__trigger"] == "trigger"
    edges = {(a.source, a.dest, a.label) for a in drawing.arrows}
    assert {("__trigger", "a", ""), ("a", "b", ""), ("a", "c__switch", ""), ("c__switch", "c", "true")} <= edges
    assert ("c__switch", "d", "false") in edges  # false skips past the gated step
    rows = {r["id"]: r for r in drawing.rows}
    assert rows["a"]["entry"] and rows["d"]["end"] and "c (on true)" in rows["c__switch"]["next"]
    boxes = {b.id: b for b in drawing.boxes}
    assert boxes["b"].y == boxes["c__switch"].y < boxes["c"].y < boxes["d"].y  # top to bottom
    assert all(b.x >= 0 and b.x + 176 <= drawing.width for b in drawing.boxes)
    assert describe(p.nodes["c__switch"].condition) == "payload.x eq 1"
