"""Retry and bulk actions against a real gateway: `POST /job/{id}/retry`, `POST /jobs/retry`,
`POST /jobs/cancel` (dry-run counts equal what is then acted on, the cap, the audit row, scopes),
and a retried pipeline step routing onward."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import ADMIN_TOKEN, base_config, enqueue, free_port, make_plugin, wait_for

pytestmark = pytest.mark.slow
READER = "actions-reader-token-0123456789ab"


def flaky(root: Path, name: str, flag: Path) -> None:
    """Fails until `flag` exists, then succeeds (and emits one event, for the pipeline test)."""
    make_plugin(
        root,
        name,
        f"""\
        #!/usr/bin/env bash
        cat >/dev/null
        if [ -e {flag} ]; then
          echo '{{"status":"ok","result":"fixed","events":[{{"type":"{name}.done","payload":{{"n":1}}}}]}}'
        else
          echo '{{"status":"error","error":"not yet","retry":false}}'
        fi
        """,
    )


def sleeper(root: Path) -> None:
    make_plugin(root, "slow", '#!/usr/bin/env bash\ncat >/dev/null\nsleep 60\necho \'{"status":"ok"}\'\n')


def gateway(tmp_path, gateway_factory, **api: Any):
    root, flag = tmp_path / "plugins", tmp_path / "fixed"
    flaky(root, "fx", flag)
    flaky(root, "fy", flag)
    make_plugin(root, "after", '#!/usr/bin/env bash\ncat >/dev/null\necho \'{"status":"ok","result":"after"}\'\n')
    sleeper(root)
    cfg = base_config(
        [root],
        {"fx": {}, "fy": {}, "after": {}, "slow": {"timeout": "5m"}},
        port=free_port(),
        pipelines=[
            {"name": "chain", "on": "start.chain", "steps": [{"id": "a", "uses": "fx"}, {"id": "b", "uses": "after"}]}
        ],
    )
    cfg["api"]["auth"]["tokens"].append({"name": "reader", "token": READER, "scopes": ["jobs:ro"]})
    cfg["api"].update(api)
    return gateway_factory(cfg), flag


def settle(client: httpx.Client, ids: list[str], statuses: set[str]) -> list[dict[str, Any]]:
    def done() -> list[dict[str, Any]] | None:
        jobs = [client.get(f"/job/{j}").json() for j in ids]
        return jobs if all(j["status"] in statuses for j in jobs) else None

    return wait_for(done, timeout=60, message=f"jobs to reach {statuses}")


def test_retry_one_job_links_both_ways_and_refuses_what_it_cannot_retry(tmp_path, gateway_factory):
    gw, flag = gateway(tmp_path, gateway_factory)
    old = enqueue(gw.url, ADMIN_TOKEN, "fx", "poll")
    with gw.client() as client:
        settle(client, [old], {"failed"})
        flag.touch()
        answer = client.post(f"/job/{old}/retry")
        assert answer.status_code == 202, answer.text
        body = answer.json()
        assert body["retry_of"] == old and body["status"] == "queued" and body["duplicate"] is False
        [new] = settle(client, [body["job_id"]], {"succeeded"})
        assert new["retry_of"] == old and new["result"]["result"] == "fixed"
        before = client.get(f"/job/{old}").json()
        assert before["status"] == "failed" and before["retried_by"] == [body["job_id"]]  # history unchanged
        assert client.post("/job/nope/retry").json() == {"error": "no job with id 'nope'"}
        slow = enqueue(gw.url, ADMIN_TOKEN, "slow", "poll")
        refused = client.post(f"/job/{slow}/retry")
        assert refused.status_code == 409
        assert f"job {slow} is " in refused.json()["error"] and "can be retried" in refused.json()["error"]
        reader = httpx.post(f"{gw.url}/job/{old}/retry", headers={"Authorization": f"Bearer {READER}"}, timeout=10)
        assert reader.status_code == 403 and "lacks scope 'jobs:rw'" in reader.json()["error"]


def test_a_second_retry_while_the_first_is_active_returns_the_first(tmp_path, gateway_factory):
    gw, _ = gateway(tmp_path, gateway_factory)
    with gw.client() as client:
        first = enqueue(gw.url, ADMIN_TOKEN, "slow", "poll")
        client.post(f"/job/{first}/cancel")
        one = client.post(f"/job/{first}/retry")
        two = client.post(f"/job/{first}/retry")
        assert one.status_code == 202 and two.status_code == 200
        assert two.json() == {**one.json(), "duplicate": True, "status": two.json()["status"]}


def test_retried_pipeline_step_routes_onward(tmp_path, gateway_factory):
    gw, flag = gateway(tmp_path, gateway_factory)
    with gw.client() as client:
        started = client.post("/pipeline/chain?async=true", json={"payload": {}})
        assert started.status_code == 202, started.text
        root = started.json()["job_id"]
        settle(client, [root], {"failed"})
        assert client.get(f"/job/{root}").json()["children"] == []
        flag.touch()
        retry = client.post(f"/job/{root}/retry").json()["job_id"]
        [done] = settle(client, [retry], {"succeeded"})
        assert done["pipeline"] == "chain" and done["step_id"] == "a"
        [child] = done["children"]
        assert child["plugin"] == "after" and child["step_id"] == "b"
        settle(client, [child["job_id"]], {"succeeded"})


def test_bulk_retry_dry_run_count_equals_what_is_acted_on_and_is_audited(tmp_path, gateway_factory):
    gw, flag = gateway(tmp_path, gateway_factory)
    fx = [enqueue(gw.url, ADMIN_TOKEN, "fx", "poll") for _ in range(5)]
    fy = [enqueue(gw.url, ADMIN_TOKEN, "fy", "poll") for _ in range(2)]
    with gw.client() as client:
        settle(client, fx + fy, {"failed"})
        flag.touch()
        dry = client.post("/jobs/retry", params={"plugin": "fx", "dry_run": "true"}).json()
        assert dry["dry_run"] is True and dry["matched"] == 5 and dry["remaining"] == 0
        assert sorted(j["job_id"] for j in dry["sample"]) == sorted(fx)
        assert client.get("/jobs", params={"status": "queued"}).json()["total"] == 0  # nothing changed
        real = client.post("/jobs/retry", params={"plugin": "fx"}).json()
        assert real["matched"] == dry["matched"] == real["acted"] == 5 and real["skipped"] == []
        assert sorted(r["retry_of"] for r in real["retries"]) == sorted(fx)
        settle(client, [r["job_id"] for r in real["retries"]], {"succeeded"})
        again = client.post("/jobs/retry", params={"plugin": "fx"}).json()  # the 5 old failures still match
        assert again["matched"] == 5 and again["acted"] == 0 and len(again["skipped"]) == 5
        assert all("already succeeded" in s["reason"] for s in again["skipped"])
        audit = client.get("/bulk-actions").json()["actions"]
        assert [(a["action"], a["matched"], a["acted"], a["skipped"]) for a in audit] == [
            ("retry", 5, 0, 5),
            ("retry", 5, 5, 0),
        ]
        assert audit[1]["actor"] == "admin" and audit[1]["filter"] == {
            "plugin": "fx",
            "status": "failed,timed_out,dead",
        }
        assert sorted(audit[1]["job_ids"]) == sorted(r["job_id"] for r in real["retries"])
        reader = httpx.get(f"{gw.url}/bulk-actions", headers={"Authorization": f"Bearer {READER}"}, timeout=10)
        assert reader.status_code == 200
        refused = httpx.post(f"{gw.url}/jobs/retry", headers={"Authorization": f"Bearer {READER}"}, timeout=10)
        assert refused.status_code == 403


def test_bulk_cap_remaining_and_bad_filters(tmp_path, gateway_factory):
    gw, _ = gateway(tmp_path, gateway_factory, bulk_max=3)
    ids = [enqueue(gw.url, ADMIN_TOKEN, "fx", "poll") for _ in range(5)]
    with gw.client() as client:
        settle(client, ids, {"failed"})
        dry = client.post("/jobs/retry", params={"dry_run": "1"}).json()
        assert (dry["matched"], dry["cap"], dry["remaining"]) == (5, 3, 2)
        real = client.post("/jobs/retry").json()
        assert (real["matched"], real["acted"], real["remaining"]) == (5, 3, 2)
        cases = {
            ("/jobs/retry", "status", "queued"): "status: queued cannot be retried",
            ("/jobs/cancel", "status", "failed"): "status: failed cannot be cancelled",
            ("/jobs/retry", "cursor", "x"): "cursor: not accepted by bulk actions",
            ("/jobs/retry", "dry_run", "maybe"): "dry_run: 'maybe' is not accepted",
            ("/jobs/cancel", "created_after", "yesterday"): "created_after",
        }
        for (path, name, value), message in cases.items():
            answer = client.post(path, params={name: value})
            assert answer.status_code == 400 and message in answer.json()["error"], (path, answer.text)


def test_bulk_cancel_kills_running_and_drops_queued(tmp_path, gateway_factory):
    gw, _ = gateway(tmp_path, gateway_factory)  # max_workers 2
    ids = [enqueue(gw.url, ADMIN_TOKEN, "slow", "poll") for _ in range(4)]
    with gw.client() as client:
        wait_for(lambda: client.get("/jobs", params={"status": "running"}).json()["total"] == 2, timeout=60)
        dry = client.post("/jobs/cancel", params={"plugin": "slow", "dry_run": "true"}).json()
        assert dry["matched"] == 4
        real = client.post("/jobs/cancel", params={"plugin": "slow"}).json()
        assert real["acted"] == dry["matched"] == 4 and sorted(real["cancelled"]) == sorted(ids)
        jobs = settle(client, ids, {"dead"})
        assert all("cancelled by bulk action of admin" in j["last_error"] for j in jobs)
        assert client.get("/healthz").json()["workers_busy"] == 0
        [audit] = client.get("/bulk-actions").json()["actions"]
        assert (audit["action"], audit["matched"], audit["acted"]) == ("cancel", 4, 4)
