"""What the job detail page shows, gathered with the API's own functions so every field is
redacted and scope-shaped exactly as the API shows it to the same token:

- the job and its lineage: `GET /job/{id}` (`job_detail` + `shape_results`);
- attempts with logs and stderr: `GET /job-attempts` (`logs_body` + `shape_results`, `jobs:logs:ro`);
- transitions and payload: as `GET /job/{id}/detail` (reasons need `jobs:result:ro`);
- the pipeline tree: `GET /job/{id}/tree` (`store.job_tree` + `tree_items`, `jobs:tree:ro`), drawn
  from the top of the job's family so a step's page shows the whole run it belongs to.

Pure shaping (`nest`, `stderr_tail`) is separate from the store reads (`gather`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ductile.actions import CANCELLABLE, RETRYABLE
from ductile.api.app import ApiError
from ductile.api.auth import Principal
from ductile.api.routers.jobs import job_detail, logs_body, shape_results
from ductile.api.routers.lineage import tree_items
from ductile.redact import redact, redact_text

RESULT_SCOPE = "jobs:result:ro"
MAX_ATTEMPTS_SHOWN = 200
MAX_TREE_NODES = 400  # a fan-out of thousands is summarized, not drawn node by node
MAX_ANCESTRY = 100  # hops up `parent_job_id` to find the run's root
STDERR_TAIL_LINES = 40
STDERR_TAIL_CHARS = 4000
ACTIVE_WORDS = {s.value for s in CANCELLABLE}


@dataclass
class TreeNode:
    """One job in the drawn tree: its own fields plus its children, in the API's tree order."""

    job_id: str
    plugin: str
    command: str
    status: str
    step_id: str | None = None
    pipeline: str | None = None
    started_at: str | None = None
    completed_at: str | None = None
    children: list[TreeNode] = field(default_factory=list)


@dataclass
class Tree:
    root: TreeNode
    ids: list[str]  # every drawn job id (the page refreshes when one of them changes)
    total: int  # jobs in the family; more than len(ids) when the drawing was cut at MAX_TREE_NODES
    active: bool  # some job of the family is queued or running


def nest(items: list[dict[str, Any]], extra: dict[str, dict[str, Any]], limit: int = MAX_TREE_NODES) -> Tree | None:
    """`GET /job/{id}/tree` items (root first, each parent before its children) as a nested tree;
    `extra` adds fields the API item lacks (step_id, pipeline) by job id. At most `limit` nodes."""
    if not items:
        return None
    nodes: dict[str, TreeNode] = {}
    root: TreeNode | None = None
    for item in items[:limit]:
        more = extra.get(item["job_id"], {})
        node = TreeNode(
            job_id=item["job_id"],
            plugin=item["plugin"],
            command=item["command"],
            status=item["status"],
            step_id=more.get("step_id"),
            pipeline=more.get("pipeline"),
            started_at=item.get("started_at"),
            completed_at=item.get("completed_at"),
        )
        parent = nodes.get(item.get("parent_job_id") or "")
        if root is None:
            root = node
        elif parent is not None:
            parent.children.append(node)
        else:
            continue  # not below the root (cannot happen for a tree body); never drawn loose
        nodes[node.job_id] = node
    assert root is not None
    active = any(i["status"] in ACTIVE_WORDS for i in items)
    return Tree(root=root, ids=list(nodes), total=len(items), active=active)


def stderr_tail(text: str | None, lines: int = STDERR_TAIL_LINES, chars: int = STDERR_TAIL_CHARS) -> tuple[str, bool]:
    """The last `lines` lines (at most `chars` characters) of stderr, and whether it was cut."""
    if not text:
        return "", False
    kept = text.splitlines()[-lines:]
    tail = "\n".join(kept)
    cut = len(kept) < len(text.splitlines())
    if len(tail) > chars:
        tail, cut = tail[-chars:], True
    return tail, cut


def pretty(value: Any) -> str:
    """JSON for a `<pre>`: already-redacted data, indented, keys in their stored order."""
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def family_root(store: Any, job: Any) -> str:
    """The top of the job's `parent_job_id` chain: the run the job belongs to."""
    current = job
    for _ in range(MAX_ANCESTRY):
        if current.parent_job_id is None:
            break
        parent = store.get_job(current.parent_job_id)
        if parent is None:
            break
        current = parent
    return current.job_id


def gather(store: Any, job_id: str, principal: Principal) -> dict[str, Any] | None:
    """Everything the page shows, or None for an unknown job (a 404 page)."""
    try:
        detail = job_detail(store, job_id)
    except ApiError as exc:
        if exc.status == 404:
            return None
        raise
    job = store.get_job(detail["job_id"])
    if job is None:  # pruned between the two reads
        return None
    can_see = principal.allows(RESULT_SCOPE)
    view: dict[str, Any] = {
        "job": shape_results(detail, can_see),
        "can_see_results": can_see,
        "payload": pretty(redact(job.payload)),
        "max_attempts": job.max_attempts,
        "next_retry_at": job.next_retry_at,
        "transitions": [
            {"from": t.from_status, "to": t.to_status, "reason": redact_text(t.reason) if can_see else None, "at": t.at}
            for t in store.transitions(job.job_id)
        ],
        "can_retry": job.status in RETRYABLE,
        "can_cancel": job.status in CANCELLABLE,
        "terminal": job.status not in CANCELLABLE,
        "attempts": None,
        "tree": None,
    }
    if "result" in view["job"]:
        view["result"] = pretty(view["job"]["result"])
    for event in view["job"].get("events", []):
        # As GET /job/{id}: shape_results left the payload out without jobs:result:ro (an event
        # payload carries the step's result).
        event["payload_text"] = pretty(event["payload"]) if "payload" in event else None
    if principal.allows("jobs:logs:ro"):
        query = {"job_id": job.job_id, "include_result": "false", "limit": str(MAX_ATTEMPTS_SHOWN)}
        attempts = shape_results(logs_body(store, query), can_see)["attempts"]
        for attempt in attempts:
            attempt["stderr_tail"], attempt["stderr_cut"] = stderr_tail(attempt.get("stderr"))
        view["attempts"] = sorted(attempts, key=lambda a: a["attempt"])
    if principal.allows("jobs:tree:ro"):
        family = store.job_tree(family_root(store, job))
        # Statuses and names only: each job's result is on its own page, shaped for the token there.
        items = tree_items(store, family, include_result=False)
        extra = {j.job_id: {"step_id": j.step_id, "pipeline": j.pipeline} for j in family}
        tree = nest(items, extra)
        if tree is not None and (tree.root.children or job.pipeline):
            view["tree"] = tree
        if tree is not None and tree.active:
            view["terminal"] = False
    return view
