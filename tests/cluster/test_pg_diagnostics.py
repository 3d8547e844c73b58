"""`GET /system/selfcheck` and `ductile system selfcheck` on PostgreSQL: the same checks read
through a read-only session; SQLite's file checks (lock, integrity) say they were skipped."""

from __future__ import annotations

import json
import subprocess

import httpx
from conftest import ADMIN_TOKEN, DUCTILE

from cluster.pgrig import Cluster


def test_selfcheck_on_postgres_api_and_cli(pg_cluster: Cluster) -> None:
    node = pg_cluster.start(pg_cluster.config({"echo": {"uses": "proto_sh"}}))
    answer = httpx.get(f"{node.url}/system/selfcheck", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=20)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    checks = {c["name"]: c for c in body["checks"]}
    assert body["ok"] is True, body
    assert checks["lock"]["status"] == "skipped" and checks["integrity"]["status"] == "skipped"
    assert checks["schema"]["status"] == "ok" and "(this ductile: " in checks["schema"]["detail"]
    assert checks["statuses"]["status"] == checks["finished_jobs"]["status"] == "ok"
    import psycopg

    with psycopg.connect(pg_cluster.url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO jobs (job_id, plugin, command, status, max_attempts, submitted_by, created_at) "
            "VALUES ('broken-pg', 'echo', 'poll', 'succeeded', 1, 'test', '2026-01-01T00:00:00.000000Z')"
        )
    cli = subprocess.run(
        [DUCTILE, "system", "selfcheck", "--json", "--config", str(node.config_dir)], capture_output=True, text=True
    )
    assert cli.returncode == 1, cli.stderr
    report = json.loads(cli.stdout)
    assert report["database"] == "postgresql" and report["ok"] is False
    failed = [c for c in report["checks"] if c["status"] == "fail"]
    assert [(c["name"], c["detail"]) for c in failed] == [("finished_jobs", "1 finished job(s) without completed_at")]
