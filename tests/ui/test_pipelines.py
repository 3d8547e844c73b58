"""The pipelines pages (/ui/pipelines, /ui/pipelines/{name}) and a pipeline run's tree on the job
detail page. `rig-flow` (tests/ui/rig.py): fetch → split[notify (fails), store → publish (gated
by an `if`: a core.switch node)]. Real gateway, real plugin processes, real Chromium."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from conftest import wait_for

from ui import rig

FLOW_STATUSES = {
    "fetch": "succeeded",
    "notify": "failed",
    "store": "succeeded",
    "publish__switch": "succeeded",
    "publish": "succeeded",
}


@pytest.fixture(scope="module")
def flow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    rig.browser_ready()
    gw = rig.start_flow_gateway(tmp_path_factory.mktemp("pipelines"))
    yield gw
    gw.stop()


@pytest.fixture(scope="module")
def run(flow: Any) -> str:
    """One finished run of rig-flow: its entry job id."""
    entry = rig.start_pipeline(flow, "rig-flow", {"n": 1})

    def finished() -> list[dict[str, Any]] | None:
        tree = rig.job_tree(flow, entry)
        done = len(tree) == len(FLOW_STATUSES) and all(i["status"] not in ("queued", "running") for i in tree)
        return tree if done else None

    wait_for(finished, timeout=90, message="rig-flow's five jobs to finish")
    return entry


@pytest.fixture
def signed_in(browser: Any, flow: Any) -> Iterator[Callable[..., Any]]:
    """`signed_in(role, **context_options)`: a page of a new context, signed in on `flow`."""
    with rig.browser_pages(browser, flow) as make:
        yield make


def test_pipelines_page_draws_the_compiled_graph(signed_in: Any) -> None:
    page = signed_in("admin")
    response = page.goto("/ui/pipelines")
    assert response is not None and response.status == 200
    graph = page.locator('figure.pgraph[data-pipeline="rig-flow"] svg')
    assert graph.get_attribute("role") == "img"
    nodes = {g.get_attribute("data-node"): g.get_attribute("data-kind") for g in graph.locator("g.pg-node").all()}
    assert nodes == {
        "__trigger": "trigger",
        "fetch": "uses",
        "notify": "uses",
        "store": "uses",
        "publish__switch": "switch",
        "publish": "uses",
    }
    # the split: fetch fans out to both branches; the switch routes `true` to the gated step
    assert sorted(e.get_attribute("data-to") for e in graph.locator('path.pg-edge[data-from="fetch"]').all()) == [
        "notify",
        "store",
    ]
    assert graph.locator('path.pg-edge-true[data-from="publish__switch"][data-to="publish"]').count() == 1
    assert graph.locator('path.pg-edge[data-from="__trigger"][data-to="fetch"]').count() == 1
    assert graph.locator('g[data-node="__trigger"] text.pg-label').text_content() == "on rig.flow"
    # the same graph in words
    page.get_by_text("The graph of rig-flow in words").click()
    row = page.locator('table.pg-steps tr[data-node="fetch"]')
    assert "notify" in row.inner_text() and "store" in row.inner_text() and "entry" in row.inner_text()
    assert "true" in page.locator('table.pg-steps tr[data-node="publish__switch"]').inner_text()


def test_pipeline_run_tree_shows_each_node_with_its_status(signed_in: Any, run: str) -> None:
    page = signed_in("admin")
    page.goto(f"/ui/jobs/{run}")
    tree = page.locator("#job-tree")
    seen = {}
    for node in tree.locator("a.node").all():
        seen[node.locator(".node-name").inner_text()] = node.locator(".status").inner_text()
    assert seen == FLOW_STATUSES
    # drawn as a tree: the branches sit inside fetch's list item, publish inside its switch's
    fetch_item = tree.locator("li", has=page.locator('a.node:has(.node-name:text-is("fetch"))')).first
    assert fetch_item.locator("ul a.node .node-name").all_inner_texts() == ["notify", "store", "publish__switch", "publish"]
    assert tree.locator("a.node[aria-current]").locator(".node-name").inner_text() == "fetch"
    # each node links to its job; a step's page draws the whole run and marks itself
    tree.locator("a.node", has=page.locator('.node-name:text-is("notify")')).click()
    page.wait_for_url("**/ui/jobs/*")
    assert page.locator("#job-status").inner_text() == "failed"
    assert page.locator("#job-tree a.node[aria-current] .node-name").inner_text() == "notify"
    assert page.locator("#job-tree a.node").count() == len(FLOW_STATUSES)


def test_pipeline_page_lists_last_runs_linking_to_job_detail(signed_in: Any, run: str) -> None:
    page = signed_in("viewer")
    page.goto("/ui/pipelines/rig-flow")
    rows = page.locator("table.runs tbody tr")
    assert rows.count() >= 1
    first = rows.filter(has=page.locator(f'a[href="/ui/jobs/{run}"]'))
    assert "failed" in first.inner_text()  # one step failed: the run's outcome says so
    assert first.locator("td.num").first.inner_text() == str(len(FLOW_STATUSES))
    first.get_by_role("link").click()
    page.wait_for_url(f"**/ui/jobs/{run}")
    assert page.locator("#job-tree").is_visible()
    # the list page names the last run too
    page.goto("/ui/pipelines")
    assert "failed" in page.locator(".pipeline-meta").first.inner_text()


def test_unknown_pipeline_is_a_404_naming_the_known_ones(signed_in: Any) -> None:
    page = signed_in("admin")
    response = page.goto("/ui/pipelines/nope")
    assert response is not None and response.status == 404
    assert "rig-flow" in page.get_by_role("alert").inner_text()


def test_pipelines_need_the_tree_scope(signed_in: Any) -> None:
    page = signed_in("blind")  # jobs:status:ro only
    response = page.goto("/ui/pipelines")
    assert response is not None and response.status == 403
    assert "jobs:tree:ro" in page.get_by_role("alert").inner_text()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_accessibility_in_light_and_dark(signed_in: Any, run: str, scheme: str) -> None:
    page = signed_in("admin", color_scheme=scheme)
    for path in ("/ui/pipelines", "/ui/pipelines/rig-flow", f"/ui/jobs/{run}"):
        page.goto(path)
        assert rig.axe_problems(page) == [], f"{scheme} {path}"


def test_phone_width_never_scrolls_sideways(signed_in: Any, run: str) -> None:
    phone = signed_in("admin", viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    for path in ("/ui/pipelines", "/ui/pipelines/rig-flow", f"/ui/jobs/{run}"):
        phone.goto(path)
        assert rig.no_horizontal_scroll(phone), path
