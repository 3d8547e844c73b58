"""Lifecycle hooks against a real gateway (spec pipelines.md §5, §10 scenarios 13 and 14): a failure
alert posted by our discord_notify look-alike to a local chat stub, and the hook depth cap."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import GatewayProcess, wait_for

from tests.acceptance.pipeline_rig import IMPLS, Gateways, Impl, chat_stub, jobs, post, rows, wait_settled, warnings

pytestmark = pytest.mark.slow


@pytest.fixture
def gateways(tmp_path: Path) -> Iterator[Gateways]:
    pool = Gateways(tmp_path)
    yield pool
    pool.stop_all()


@pytest.mark.parametrize("impl", IMPLS)
def test_a_job_that_fails_for_good_alerts_the_chat_once_and_not_on_its_first_attempt(gateways, impl: Impl):
    """§10 scenario 13: the hook fires at the terminal decision (after attempt 2), never per retry."""
    with chat_stub() as chat:
        plugins = {
            "flaky": {
                "uses": "recorder",
                "config": {"status": "error", "retry": True},
                "retry": {"max_attempts": 2, "backoff_base": "1s"},
                "notify_on_complete": True,
            },
            "oops_ping": {
                "uses": impl("discord_notify"),
                "config": {"webhook_url": chat.url, "message_template": "{plugin} {status}: {error}"},
            },
        }
        pipelines = [
            {"name": "oops", "on-hook": "job.failed", "from_plugin": "flaky", "steps": [{"uses": "oops_ping"}]}
        ]
        gw = gateways.start(plugins, pipelines, roots=list(impl.roots))
        answer = post(gw, "/plugin/flaky/handle", {"payload": {}})
        assert answer.status_code == 202, answer.text
        flaky_id = answer.json()["job_id"]
        done = wait_settled(gw.db_path, at_least=2, timeout=60)

        [flaky] = [j for j in done if j["job_id"] == flaky_id]
        assert flaky["status"] in ("failed", "dead") and flaky["attempt"] == 2
        [ping] = [j for j in done if j["plugin"] == "oops_ping"]
        assert ping["submitted_by"] == "hook" and ping["parent_job_id"] == flaky_id
        assert ping["status"] == "succeeded", ping["last_error"]
        assert ping["event_context_id"] is None  # hook jobs are root-level: no pipeline context
        [second] = rows(gw.db_path, "SELECT * FROM attempts WHERE job_id = ? AND attempt = 2", (flaky_id,))
        assert ping["created_at"] >= second["completed_at"]  # not fired when attempt 1 failed
        [message] = chat.messages
        assert message.startswith(f"flaky {flaky['status']}: ") and "boom" in message


def run_echo_loop(tmp_path: Path, gateways: Gateways) -> tuple[GatewayProcess, str, list[dict]]:
    """echo's completion hook runs echo again, under hook_max_depth 2; returns once the WARN refusing
    the third hook is logged and everything is terminal."""
    plugins = {
        "echo": {"uses": "recorder", "notify_on_complete": True, "config": {"record_dir": str(tmp_path / "rec")}}
    }
    pipelines = [{"name": "loop", "on-hook": "job.completed", "steps": [{"uses": "echo"}]}]
    gw = gateways.start(plugins, pipelines, service={"hook_max_depth": 2})
    answer = post(gw, "/plugin/echo/handle", {"payload": {}})
    assert answer.status_code == 202, answer.text
    wait_for(
        lambda: any("max depth reached" in str(r.get("msg", "")) for r in warnings(gw)),
        timeout=30,
        message="the WARN that refuses the third hook",
    )
    wait_settled(gw.db_path, at_least=3)
    return gw, answer.json()["job_id"], jobs(gw.db_path)


def test_hook_chains_stop_at_hook_max_depth(tmp_path, gateways):
    """§10 scenario 14: the root plus two hook jobs, then a WARN `max depth reached`."""
    _, root, everything = run_echo_loop(tmp_path, gateways)
    assert [j["plugin"] for j in everything] == ["echo", "echo", "echo"]
    assert [j["submitted_by"] for j in everything][1:] == ["hook", "hook"]
    assert everything[0]["job_id"] == root
    assert everything[1]["parent_job_id"] == root and everything[2]["parent_job_id"] == everything[1]["job_id"]
    assert {j["status"] for j in everything} == {"succeeded"}


def test_a_hook_chain_is_one_tree(tmp_path, gateways):
    """§10 scenario 14, last part: GET /job/<root>/tree lists the root and both hook jobs, root first."""
    gw, root, everything = run_echo_loop(tmp_path, gateways)
    with gw.client() as client:
        tree = client.get(f"/job/{root}/tree")
    assert tree.status_code == 200, tree.text
    assert [item["job_id"] for item in tree.json()] == [j["job_id"] for j in everything]
