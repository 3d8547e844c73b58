"""`ductile job retry|cancel` as real CLI processes: bulk without --yes is a dry run, with --yes it
acts and says how much; local retry (no gateway API) follows the API's rules and is audited."""

from __future__ import annotations

import json

import pytest
from conftest import ADMIN_TOKEN, enqueue, wait_for

from tests.acceptance.test_gateway_process import cli
from tests.observe.test_actions import gateway, settle

pytestmark = pytest.mark.slow


def test_bulk_retry_and_cancel_from_the_cli(tmp_path, gateway_factory):
    gw, flag = gateway(tmp_path, gateway_factory)
    failed = [enqueue(gw.url, ADMIN_TOKEN, "fx", "poll") for _ in range(3)]
    with gw.client() as client:
        settle(client, failed, {"failed"})
        api = ["--api-url", gw.url, "--token", ADMIN_TOKEN]
        preview = cli("job", "retry", "--plugin", "fx", *api)
        assert preview.returncode == 0, preview.stderr
        assert "3 job(s) match" in preview.stdout and "re-run with --yes" in preview.stdout
        assert client.get("/jobs", params={"status": "queued"}).json()["total"] == 0
        flag.touch()
        done = cli("job", "retry", "--plugin", "fx", "--yes", *api)
        assert "retry: 3 of 3 matching job(s) acted on" in done.stdout, done.stdout + done.stderr
        both = cli("job", "retry", failed[0], "--plugin", "fx", *api)
        assert both.returncode == 1 and "give a job id or filters, not both" in both.stderr
        slow = [enqueue(gw.url, ADMIN_TOKEN, "slow", "poll") for _ in range(3)]
        cancelled = cli("job", "cancel", "--plugin", "slow", "--yes", "--json", *api)
        out = json.loads(cancelled.stdout)
        assert out["acted"] == 3 and sorted(out["cancelled"]) == sorted(slow)
        bad = cli("job", "cancel", "--status", "failed", *api)
        assert bad.returncode == 1 and "status: failed cannot be cancelled" in bad.stderr


def test_local_retry_uses_the_same_rules_and_is_audited(tmp_path, gateway_factory):
    gw, flag = gateway(tmp_path, gateway_factory)
    ids = [enqueue(gw.url, ADMIN_TOKEN, "fy", "poll") for _ in range(2)]
    with gw.client() as client:
        settle(client, ids, {"failed"})
        flag.touch()
        local = ["--config", str(gw.config_dir)]
        one = cli("job", "retry", ids[0], "--json", *local)
        body = json.loads(one.stdout)
        assert body["retry_of"] == ids[0] and body["duplicate"] is False
        wait_for(lambda: client.get(f"/job/{body['job_id']}").json()["status"] == "succeeded", timeout=60)
        bulk = cli("job", "retry", "--plugin", "fy", "--yes", "--json", *local)
        out = json.loads(bulk.stdout)
        assert out["matched"] == 2 and out["acted"] == 1  # ids[0]'s retry already succeeded
        assert "already succeeded" in out["skipped"][0]["reason"]
        [audit] = client.get("/bulk-actions").json()["actions"]
        assert audit["actor"].startswith("cli:") and (audit["matched"], audit["acted"], audit["skipped"]) == (2, 1, 1)
