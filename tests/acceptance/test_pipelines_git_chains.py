"""Pipelines over real git repositories (spec pipelines.md §10 scenarios 3 and 4, §1.5 Example A):
our look-alikes of git_repo_sync (`git_mirror`) and repo_policy (`policy_tidy`) clone local bare
repositories with the real git binary and tidy them, chained by the gateway's router."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.acceptance.pipeline_rig import (
    IMPLS,
    OURS,
    Gateways,
    Impl,
    context_row,
    jobs,
    last_response,
    post,
    recorded,
    rows,
    stored_payload,
    wait_settled,
)

pytestmark = pytest.mark.slow

GIT = shutil.which("git")
needs_git = pytest.mark.skipif(
    GIT is None and os.environ.get("CI") != "true", reason="git is not installed (these chains run the real git binary)"
)


@pytest.fixture
def gateways(tmp_path: Path) -> Iterator[Gateways]:
    pool = Gateways(tmp_path)
    yield pool
    pool.stop_all()


def bare_repo(root: Path, name: str) -> Path:
    """<root>/<name>.git on branch main with one commit (a.txt) and no README or CHANGELOG."""
    work = root / f"{name}-work"
    ident = ["-c", "user.name=test", "-c", "user.email=test@localhost"]
    subprocess.run(["git", "-c", "init.defaultBranch=main", "init", "-q", str(work)], check=True)
    (work / "a.txt").write_text("hello\n")
    subprocess.run(["git", "-C", str(work), "add", "a.txt"], check=True)
    subprocess.run(["git", "-C", str(work), *ident, "commit", "-qm", "first"], check=True)
    bare = root / f"{name}.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
    return bare


def events_of(db: Path, job_id: str) -> list[dict]:
    return [
        {"type": r["type"], "payload": json.loads(r["payload"])}
        for r in rows(db, "SELECT * FROM plugin_events WHERE job_id = ? ORDER BY rowid", (job_id,))
    ]


@needs_git
@pytest.mark.parametrize("impl", IMPLS)
def test_repo_tidy_clones_then_tidies_and_a_second_run_fetches_with_no_changes(tmp_path, gateways, impl: Impl):
    """§10 scenario 3."""
    src = bare_repo(tmp_path, "src")
    mirrors = tmp_path / "m"
    gw = gateways.start(
        {"git_repo_sync": {"uses": impl("git_repo_sync")}, "repo_policy": {"uses": impl("repo_policy")}},
        [{"name": "repo-tidy", "on": "repo.go", "steps": [{"uses": "git_repo_sync"}, {"uses": "repo_policy"}]}],
        roots=list(impl.roots),
    )
    body = {"payload": {"owner": "o", "repo_name": "r", "clone_url": str(src), "clone_dir": str(mirrors)}}
    repo = mirrors / "o" / "r"

    answer = post(gw, "/pipeline/repo-tidy", body)
    assert answer.status_code == 202, answer.text
    first = answer.json()["job_id"]
    wait_settled(gw.db_path, at_least=2)
    sync, policy = jobs(gw.db_path, "plugin = 'git_repo_sync'"), jobs(gw.db_path, "plugin = 'repo_policy'")
    assert [j["status"] for j in sync + policy] == ["succeeded", "succeeded"]
    assert sync[0]["job_id"] == first and sync[0]["submitted_by"] == "api"
    assert policy[0]["parent_job_id"] == first and policy[0]["submitted_by"] == "route"
    assert (repo / "README.md").is_file() and (repo / "CHANGELOG.md").is_file()
    assert stored_payload(policy[0])["payload"]["path"] == str(repo)
    assert last_response(gw.db_path, policy[0]["job_id"])["result"].startswith("repo_policy: updated")
    if impl is OURS:  # policy_tidy also commits what it added (the real repo_policy leaves it uncommitted)
        log = subprocess.run(["git", "-C", str(repo), "log", "--format=%s"], capture_output=True, text=True, check=True)
        assert log.stdout.splitlines()[0] == "repo policy: add README.md, CHANGELOG.md"
    [cloned] = events_of(gw.db_path, first)
    assert cloned["type"] == "git_repo_sync.completed"
    assert cloned["payload"]["action"] == "cloned" and cloned["payload"]["new_commits"] is True

    answer = post(gw, "/pipeline/repo-tidy", body)
    assert answer.status_code == 202, answer.text
    second = answer.json()["job_id"]
    wait_settled(gw.db_path, at_least=4)
    [fetched] = events_of(gw.db_path, second)
    assert fetched["payload"]["action"] == "fetched" and fetched["payload"]["new_commits"] is False
    [again] = jobs(gw.db_path, "plugin = 'repo_policy' AND parent_job_id = ?", (second,))
    assert again["status"] == "succeeded"
    assert last_response(gw.db_path, again["job_id"])["result"] == "repo_policy: no changes"


@needs_git
@pytest.mark.parametrize("impl", IMPLS)
def test_example_a_each_discovered_repo_is_mirrored_then_tidied_to_the_end(tmp_path, gateways, impl: Impl):
    """§10 scenario 4 (Example A, ours): `tidy-mirror` is started from inside `mirror-each-repo` and
    still gets its own depth budget, so policy → notes → push__switch → push all run for each repo."""
    mirrors, notes_dir, push_dir = tmp_path / "m", tmp_path / "notes", tmp_path / "push"
    discovered = [
        {
            "type": "github_repo_sync.repo_discovered",
            "payload": {
                "owner": "octo",
                "repo_name": name,
                "clone_url": str(bare_repo(tmp_path, name)),
                "clone_dir": str(mirrors),
            },
        }
        for name in ("alpha", "beta")
    ]
    plugins = {
        "S": {"uses": "recorder", "config": {"emit": discovered, "result": "discovered 2 repos"}},
        "git_repo_sync": {"uses": impl("git_repo_sync")},
        "repo_policy": {"uses": impl("repo_policy"), "config": {"changelog_heading": "Release notes"}},
        "N": {
            "uses": "recorder",
            "config": {"record_dir": str(notes_dir), "emit": [{"type": "notes.done", "payload": {"changed": True}}]},
        },
        "P": {"uses": "recorder", "config": {"record_dir": str(push_dir), "result": "pushed"}},
    }
    pipelines = [
        {
            "name": "mirror-each-repo",
            "on": "github_repo_sync.repo_discovered",
            "from_plugin": "S",
            "steps": [
                {
                    "id": "mirror",
                    "uses": "git_repo_sync",
                    "baggage": {"repo.owner": "payload.owner", "repo.name": "payload.repo_name"},
                }
            ],
        },
        {
            "name": "tidy-mirror",
            "on": "git_repo_sync.completed",
            "from_plugin": "git_repo_sync",
            "if": {"path": "payload.new_commits", "op": "eq", "value": True},
            "steps": [
                {"id": "policy", "uses": "repo_policy"},
                {"id": "notes", "uses": "N"},
                {"id": "push", "uses": "P", "if": {"path": "payload.changed", "op": "eq", "value": True}},
            ],
        },
    ]
    gw = gateways.start(plugins, pipelines, roots=list(impl.roots))
    answer = post(gw, "/plugin/S/poll")
    assert answer.status_code == 202, answer.text
    root = answer.json()["job_id"]
    # S, 2 mirrors, and per repo policy, notes, push__switch, push
    done = wait_settled(gw.db_path, at_least=1 + 2 + 2 * 4)
    assert {j["status"] for j in done} == {"succeeded"}, [(j["plugin"], j["status"], j["last_error"]) for j in done]

    mirrors_jobs = jobs(gw.db_path, "pipeline = 'mirror-each-repo'")
    assert len(mirrors_jobs) == 2 and {j["parent_job_id"] for j in mirrors_jobs} == {root}
    mirror_contexts = [context_row(gw.db_path, j["event_context_id"]) for j in mirrors_jobs]
    assert len({c["instance_id"] for c in mirror_contexts}) == 2
    assert sorted(c["accumulated"]["repo"]["name"] for c in mirror_contexts) == ["alpha", "beta"]
    assert {c["accumulated"]["repo"]["owner"] for c in mirror_contexts} == {"octo"}
    for name in ("alpha", "beta"):
        readme = (mirrors / "octo" / name / "README.md").read_text()
        assert "## Release notes" in readme

    tidy = jobs(gw.db_path, "pipeline = 'tidy-mirror'")
    by_step: dict[str, list[dict]] = {}
    for j in tidy:
        by_step.setdefault(j["step_id"], []).append(j)
    assert {k: len(v) for k, v in by_step.items()} == {"policy": 2, "notes": 2, "push__switch": 2, "push": 2}
    assert {j["parent_job_id"] for j in by_step["policy"]} == {j["job_id"] for j in mirrors_jobs}
    assert [j["plugin"] for j in by_step["push__switch"]] == ["core.switch", "core.switch"]
    tidy_instances = {context_row(gw.db_path, j["event_context_id"])["instance_id"] for j in by_step["policy"]}
    assert len(tidy_instances) == 2 and not tidy_instances & {c["instance_id"] for c in mirror_contexts}

    notes = recorded(notes_dir)
    assert len(notes) == 2
    for request in notes.values():
        context = request["context"]
        assert context["ductile_pipeline"] == "tidy-mirror" and context["ductile_step_id"] == "notes"
        assert context["ductile_route_depth"] == 2 and context["ductile_route_max_depth"] == 4
        assert context["ductile"]["chain_depth"] == 2  # a root trigger fired from a pipeline step (§3.6)
        assert request["event"]["payload"]["ductile_upstream_plugin"] == "repo_policy"
        assert request["event"]["payload"]["changed"] is True  # repo_policy.completed from a fresh clone
    pushes = recorded(push_dir)
    assert len(pushes) == 2
    for request in pushes.values():
        assert request["context"]["ductile_step_id"] == "push" and request["context"]["ductile_route_depth"] == 4
        assert request["event"]["type"] == "ductile.switch.true"
