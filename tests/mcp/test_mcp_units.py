"""The SDK-free parts of `ductile mcp`: result compaction (a pure function with a byte budget),
tools built from this package's OpenAPI document, request planning, doc pages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ductile.mcp.compact import compact, size
from ductile.mcp.docs import doc_pages, docs_dir, read_page
from ductile.mcp.tools import TOOLS, ToolInputError, build_tools, local_openapi, plan_request

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return local_openapi()


# -- compaction -------------------------------------------------------------------------------


def test_small_answers_pass_whole_and_unmarked() -> None:
    value = {"jobs": [{"job_id": "a", "status": "succeeded"}], "total": 1, "next_cursor": None}
    assert compact(value, 1000) == value
    assert compact([1, 2], 1000, wrap="tree") == {"tree": [1, 2]}


def test_long_string_and_list_are_cut_in_place_and_reported() -> None:
    value = {"job_id": "j1", "result": {"blob": "y" * 50_000, "rows": list(range(1000))}}
    out = compact(value, 3000)
    assert size(out) <= 3000
    assert out["job_id"] == "j1"
    assert out["result_truncated"] is True and out["result_bytes"] == size(value)
    assert set(out["truncated_fields"]) == {"$.result.blob", "$.result.rows"}
    assert out["result"]["blob"].startswith("yyy") and out["result"]["blob"].endswith("…[truncated: 50000 chars]")
    assert out["result"]["rows"][-1].endswith("more items]")
    assert out["result"]["rows"][:3] == [0, 1, 2]


def test_many_cut_fields_are_counted_beyond_the_listed_paths() -> None:
    value = {f"field{i}": "m" * 5000 for i in range(30)}  # objects are never cut, only their strings
    out = compact(value, 20_000)
    assert size(out) <= 20_000 and out["result_truncated"] is True
    assert len(out["truncated_fields"]) == 20 and out["truncated_field_count"] == 30
    assert all(out[f"field{i}"].endswith("…[truncated: 5000 chars]") for i in range(30))


def test_too_many_keys_fall_back_to_the_start_of_the_text() -> None:
    value = {f"key{i:05d}": i for i in range(5000)}
    out = compact(value, 1000)
    assert size(out) <= 1000
    assert out["result_truncated"] is True and out["truncated_fields"] == ["$"]
    assert out["result_text"].startswith('{"key00000":0')


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=300),
    lambda inner: st.lists(inner, max_size=30) | st.dictionaries(st.text(max_size=8), inner, max_size=10),
    max_leaves=200,
)


@settings(max_examples=150, deadline=None)
@given(value=json_values, budget=st.integers(min_value=1000, max_value=8000))
def test_compact_always_fits_and_marks_exactly_when_it_cut(value: Any, budget: int) -> None:
    out = compact(value, budget)
    assert size(out) <= budget
    whole = value if isinstance(value, dict) else {"result": value}
    if size(whole) <= budget:
        assert out == whole
    else:
        assert out["result_truncated"] is True and out["result_bytes"] == size(whole)


# -- tools from the OpenAPI document ----------------------------------------------------------


def test_each_tool_schema_is_its_operations_parameters(doc: dict[str, Any]) -> None:
    tools = build_tools(doc)
    assert list(tools) == [t.name for t in TOOLS]
    for spec in TOOLS:
        tool = tools[spec.name]
        op = doc["paths"].get(spec.path, {}).get(spec.method)
        assert tool.documented is (op is not None)
        if op is None:
            continue
        wires = {p["name"] for p in op.get("parameters", [])}
        assert {a.wire for a in tool.args if a.where != "body"} == wires, spec.name
        for param in op.get("parameters", []):
            arg = next(a for a in tool.args if a.wire == param["name"])
            got = tool.input_schema["properties"][arg.name]
            assert {k: v for k, v in got.items() if k != "description"} == {
                k: v for k, v in param["schema"].items() if k not in ("title", "description")
            }, (spec.name, arg.name)


def test_route_missing_from_the_document_keeps_a_path_only_tool() -> None:
    tools = build_tools({"paths": {}})
    retry = tools["retry_job"]
    assert not retry.documented and retry.scope == "jobs:rw"
    assert retry.input_schema == {
        "type": "object",
        "properties": {"job_id": {"type": "string"}},
        "additionalProperties": False,
        "required": ["job_id"],
    }
    assert "Not offered by this gateway" in retry.description


def test_plan_request_maps_path_query_header_and_body(doc: dict[str, Any]) -> None:
    tools = build_tools(doc)
    invoke = plan_request(
        tools["invoke_plugin"],
        {"plugin": "my plug", "command": "poll", "payload": {"a": 1}, "idempotency_key": "k1"},
    )
    assert (invoke.method, invoke.path) == ("POST", "/plugin/my%20plug/poll")
    assert invoke.headers == {"Idempotency-Key": "k1"} and invoke.json == {"payload": {"a": 1}}
    listing = plan_request(tools["job_logs"], {"from": "2026-11-29T10:00:00Z", "include_result": True, "limit": None})
    assert listing.params == {"from": "2026-11-29T10:00:00Z", "include_result": "true"} and not listing.has_body
    pipeline = plan_request(tools["run_pipeline"], {"name": "p", "async": True})
    assert pipeline.params == {"async": "true"} and pipeline.json is None and not pipeline.has_body


@pytest.mark.parametrize(
    ("tool", "arguments", "named"),
    [
        ("list_jobs", {"limit": 0}, "limit"),
        ("list_jobs", {"status": "bogus"}, "status"),
        ("list_jobs", {"plugin": ""}, "plugin"),
        ("list_jobs", {"colour": "red"}, "colour"),
        ("get_job", {}, "job_id"),
        ("get_job", {"job_id": ""}, "job_id"),
        ("run_pipeline", {"name": "p", "payload": [1]}, "payload"),
    ],
)
def test_bad_arguments_name_the_argument(doc: dict[str, Any], tool: str, arguments: dict[str, Any], named: str) -> None:
    with pytest.raises(ToolInputError, match=named):
        plan_request(build_tools(doc)[tool], arguments)


# -- docs as resources ------------------------------------------------------------------------


def test_doc_pages_from_the_checkout_and_no_path_tricks(tmp_path: Path) -> None:
    pages = doc_pages(docs_dir())
    names = [p.name for p in pages]
    assert "AGENTS.md" in names and names == sorted(names)
    agents = next(p for p in pages if p.name == "AGENTS.md")
    assert agents.title == "Agents: the MCP server" and agents.uri == "ductile://docs/AGENTS.md"
    assert read_page(pages, "ductile://docs/../README.md") is None
    (tmp_path / "A.md").write_text("no heading\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "B.md").write_text("# B\n")
    mine = doc_pages(docs_dir(str(tmp_path)))
    assert [(p.name, p.title) for p in mine] == [("A.md", "A")]
    assert docs_dir(str(tmp_path / "missing")) is None and doc_pages(None) == []


def test_other_commands_do_not_import_the_sdk() -> None:
    code = "import sys, ductile.cli.main; print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('mcp', 'mcp_types'))))"
    out = subprocess.run([sys.executable, "-c", "import json; " + code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
