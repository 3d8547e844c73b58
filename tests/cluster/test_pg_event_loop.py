"""A gateway on PostgreSQL keeps its event loop free while the database makes it wait.

Store calls are synchronous psycopg; on PostgreSQL the API, the dispatcher and the cluster loop
run them on the store's threads (store/offload.py). Here another connection holds an ACCESS
EXCLUSIVE lock on `jobs`, so every statement of the gateway that reads jobs waits on the
server: a GET /jobs, the dispatcher's claims, the lost-node check. With those calls on the
event loop, /healthz could not answer until the lock went (it answered after > 10 s on a loaded
node); it must answer while the lock is held and the GET /jobs is still waiting.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
from conftest import enqueue, wait_for

from cluster.pgrig import Cluster

WAITING = "SELECT count(*) FROM pg_locks WHERE relation = %s AND NOT granted"


def gateway_that_ran_a_job(pg_cluster: Cluster, tmp_path: Path) -> tuple[Any, str]:
    plugins = {"rec": {"uses": "recorder", "config": {"record_dir": str(tmp_path / "rec")}}}
    gw = pg_cluster.start(pg_cluster.config(plugins))
    first = enqueue(gw.url, gw.token, "rec", "poll")
    with gw.client() as client:
        wait_for(lambda: client.get(f"/job/{first}").json()["status"] == "succeeded", timeout=60, message="job ran")
    return gw, first


@contextmanager
def jobs_locked(pg_cluster: Cluster, mode: str, call: Callable[[], None], what: str) -> Iterator[Callable[[], int]]:
    """Lock `jobs` in `mode` from another connection, start `call` on a thread and wait until one
    of the gateway's statements waits on the lock; yields the count of waiting statements. The
    lock is released (and the thread joined) on leaving the block."""
    holder = psycopg.connect(pg_cluster.url)  # not autocommit: the lock lives until commit
    caller = threading.Thread(target=call, daemon=True)
    try:
        holder.execute(f"LOCK TABLE jobs IN {mode} MODE")
        caller.start()
        jobs_table = pg_cluster.rows("SELECT 'jobs'::regclass::oid")[0][0]

        def waiting() -> int:
            return pg_cluster.rows(WAITING, (jobs_table,))[0][0]

        wait_for(lambda: waiting() >= 1, timeout=60, message=what)
        yield waiting
    finally:
        holder.commit()
        holder.close()
    caller.join(120)


def healthz(gw: Any) -> httpx.Response:
    with httpx.Client(base_url=gw.url, timeout=120) as plain:
        return plain.get("/healthz")  # no auth: liveness


def test_healthz_answers_while_a_lock_holds_the_gateways_reads_of_jobs(pg_cluster: Cluster, tmp_path: Path) -> None:
    gw, _ = gateway_that_ran_a_job(pg_cluster, tmp_path)
    listed: dict[str, Any] = {}

    def list_jobs() -> None:
        with gw.client() as client:
            listed["response"] = client.get("/jobs", timeout=300)

    with jobs_locked(pg_cluster, "ACCESS EXCLUSIVE", list_jobs, "a statement of the gateway waiting on the lock") as waiting:
        health = healthz(gw)
        assert health.status_code == 200, health.text
        assert health.json()["node"]["id"]
        assert "response" not in listed  # GET /jobs still waits on the lock
        assert waiting() >= 1  # and so the lock was held throughout
    assert listed["response"].status_code == 200
    assert listed["response"].json()["total"] == 1
    with gw.client() as client:  # the gateway carries on: a job enqueued now runs
        second = enqueue(gw.url, gw.token, "rec", "poll")
        wait_for(lambda: client.get(f"/job/{second}").json()["status"] == "succeeded", timeout=60, message="ran")


def test_an_enqueue_waiting_on_a_lock_leaves_healthz_and_other_reads_answering(
    pg_cluster: Cluster, tmp_path: Path
) -> None:
    """SHARE mode on `jobs` lets every read through but makes an INSERT wait: the POST /plugin/…
    waits on the server (on the store's threads), and the node keeps answering /healthz, GET /jobs
    (it reads the locked table, which SHARE allows) and GET /bulk-actions (another table)."""
    gw, first = gateway_that_ran_a_job(pg_cluster, tmp_path)
    posted: dict[str, Any] = {}

    def post() -> None:
        with gw.client() as client:
            posted["response"] = client.post("/plugin/rec/poll", json={"payload": {}}, timeout=300)

    with jobs_locked(pg_cluster, "SHARE", post, "the enqueue waiting on the lock") as waiting:
        health = healthz(gw)
        assert health.status_code == 200, health.text
        with gw.client() as client:
            listed = client.get("/jobs", timeout=120)
            audit = client.get("/bulk-actions", timeout=120)
        assert listed.status_code == 200, listed.text
        assert [job["job_id"] for job in listed.json()["jobs"]] == [first]  # the waiting insert is not in yet
        assert audit.status_code == 200 and audit.json() == {"actions": []}, audit.text
        assert "response" not in posted  # the POST still waits on the lock
        assert waiting() >= 1  # and so the lock was held throughout
    assert posted["response"].status_code == 202, posted["response"].text
    second = posted["response"].json()["job_id"]
    with gw.client() as client:  # the queued event and the dispatcher's wake came after the wait
        wait_for(lambda: client.get(f"/job/{second}").json()["status"] == "succeeded", timeout=60, message="ran")
