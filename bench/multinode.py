"""Multi-node benchmark: dispatch throughput on SQLite (1 node) and PostgreSQL (1, 2, 3 nodes),
and the time a survivor needs to take over the schedules when the leader is killed.

    .venv/bin/python bench/multinode.py                 # 3,000 jobs per setup
    .venv/bin/python bench/multinode.py --jobs 600      # quicker
    DUCTILE_BENCH_PG_URL=postgresql://… (default: the local test server, database `test`)

Every node is a real `ductile system start` process with its own config directory and the same
database (SQLite: one file; PostgreSQL: one fresh schema per setup, dropped afterwards). The
plugin is a trivial bash script. N jobs are enqueued straight into the store, then the benchmark
waits until every one is `succeeded`; throughput = N / (last completed_at - first created_at),
both read from the database. Failover: three PostgreSQL nodes with a `every: 1s` schedule; the
leader is killed with SIGKILL and the time until the first job a survivor fires is reported.
Results go to docs/BENCHMARKS.md ("Multi-node").
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import psycopg
import yaml

from ductile.jobs import NewJob
from ductile.store import open_store
from ductile.timeutil import utcnow

VENV_BIN = Path(sys.executable).parent
DUCTILE = str(VENV_BIN / "ductile")
PG = os.environ.get("DUCTILE_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")

BASH_PLUGIN = """\
#!/usr/bin/env bash
read -r _request
printf '%s\\n' '{"status":"ok","result":"done"}'
"""
MANIFEST = {
    "manifest_spec": "ductile.plugin",
    "manifest_version": 1,
    "name": "trivial",
    "version": "1.0.0",
    "protocol": 2,
    "entrypoint": "run.sh",
    "commands": [{"name": "poll", "type": "write"}],
}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class Setup:
    def __init__(self, root: Path, database: dict[str, Any], nodes: int, workers: int, plugins: dict[str, Any]):
        self.root = root
        self.database = database
        self.procs: list[tuple[subprocess.Popen[bytes], int]] = []
        for n in range(nodes):
            port = free_port()
            directory = root / f"node{n}"
            directory.mkdir(parents=True)
            config = {
                "service": {"log_format": "json", "max_workers": workers, "log_level": "warning"},
                "database": database if "url" in database else {"path": str(root / "shared.db")},
                "plugin_roots": [str(root / "plugins")],
                "plugins": plugins,
                "api": {"enabled": True, "listen": f"127.0.0.1:{port}",
                        "auth": {"tokens": [{"name": "b", "token": "bench-token-0123456789", "scopes": ["*"]}]}},
            }
            (directory / "config.yaml").write_text(yaml.safe_dump(config))
            log = open(directory / "gateway.log", "ab")  # noqa: SIM115 - handed to the child
            proc = subprocess.Popen([DUCTILE, "system", "start", "--config", str(directory)], stdout=log, stderr=log)
            self.procs.append((proc, port))
        for proc, port in self.procs:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    raise RuntimeError(f"a node exited: {proc.returncode}")
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)

    def health(self, index: int) -> dict[str, Any]:
        return httpx.get(f"http://127.0.0.1:{self.procs[index][1]}/healthz", timeout=5).json()

    def stop(self) -> None:
        for proc, _ in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc, _ in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


def plugin_root(root: Path) -> None:
    plugin = root / "plugins" / "trivial"
    plugin.mkdir(parents=True)
    (plugin / "run.sh").write_text(BASH_PLUGIN)
    (plugin / "run.sh").chmod(0o755)
    (plugin / "manifest.yaml").write_text(yaml.safe_dump(MANIFEST))


def pg_schema() -> tuple[str, str]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in PG else "?"
    return schema, f"{PG}{sep}options={quote(f'-csearch_path={schema}')}"


def drop_schema(schema: str) -> None:
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def throughput(kind: str, nodes: int, jobs: int, workers: int) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="ductile-mn-"))
    schema = None
    try:
        plugin_root(root)
        if kind == "postgresql":
            schema, url = pg_schema()
            database: dict[str, Any] = {"url": url}
            target: Any = url
        else:
            database = {"path": str(root / "shared.db")}
            target = root / "shared.db"
        setup = Setup(root, database, nodes, workers, {"t": {"uses": "trivial"}})
        store = open_store(target)
        try:
            for _ in range(jobs):
                store.enqueue(NewJob("t", "poll"), now=utcnow(), dedupe_since=None)
            deadline = time.monotonic() + 1800
            while store.status_counts()["succeeded"] < jobs:
                if time.monotonic() > deadline:
                    raise RuntimeError("jobs did not finish")
                time.sleep(0.2)
            first, last = _bounds(store)
        finally:
            store.close()
            setup.stop()
        wall = (stamp(last) - stamp(first)).total_seconds()
        return {"backend": kind, "nodes": nodes, "jobs": jobs, "wall_s": wall, "jobs_per_s": jobs / wall}
    finally:
        if schema:
            drop_schema(schema)
        shutil.rmtree(root, ignore_errors=True)


def _bounds(store: Any) -> tuple[str, str]:
    row = store._read("SELECT min(created_at), max(completed_at) FROM jobs")[0]
    return row[0], row[1]


def failover(workers: int) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="ductile-fo-"))
    schema, url = pg_schema()
    try:
        plugin_root(root)
        plugins = {"t": {"uses": "trivial", "schedules": [{"every": "1s"}]}}
        setup = Setup(root, {"url": url, "heartbeat": "1s", "node_lease": "5s"}, 3, workers, plugins)
        try:
            deadline = time.monotonic() + 60
            leader = None
            while leader is None and time.monotonic() < deadline:
                for i in range(3):
                    if setup.health(i)["node"]["leader"]:
                        leader = i
                time.sleep(0.2)
            assert leader is not None, "no leader"
            time.sleep(5)
            store = open_store(url)
            setup.procs[leader][0].kill()
            killed = utcnow()
            try:
                while True:
                    rows = store._read(
                        "SELECT min(j.created_at) FROM jobs j WHERE j.submitted_by = 'scheduler' AND j.created_at > %s",
                        (killed.isoformat().replace("+00:00", "Z"),),
                    )
                    if rows[0][0]:
                        break
                    time.sleep(0.05)
            finally:
                store.close()
            took = (stamp(rows[0][0]) - killed).total_seconds()
        finally:
            setup.stop()
        return {"failover_s": took}
    finally:
        drop_schema(schema)
        shutil.rmtree(root, ignore_errors=True)


def wakeup(nodes: int, samples: int, workers: int) -> dict[str, Any]:
    """Enqueue → running across processes: each job is enqueued by this script's own connection
    (no gateway's in-process wake-up can help), one at a time onto idle nodes, so only LISTEN/NOTIFY
    (or the dispatcher's 0.25 s fallback poll) can start it. Latency = started_at - created_at."""
    root = Path(tempfile.mkdtemp(prefix="ductile-wk-"))
    schema, url = pg_schema()
    try:
        plugin_root(root)
        setup = Setup(root, {"url": url}, nodes, workers, {"t": {"uses": "trivial"}})
        store = open_store(url)
        waits: list[float] = []
        try:
            for _ in range(samples):
                job_id = store.enqueue(NewJob("t", "poll"), now=utcnow(), dedupe_since=None).job_id
                deadline = time.monotonic() + 30
                while True:
                    row = store._read("SELECT created_at, started_at FROM jobs WHERE job_id = %s", (job_id,))[0]
                    if row[1] is not None or time.monotonic() > deadline:
                        break
                    time.sleep(0.01)
                if row[1] is not None:
                    waits.append((stamp(row[1]) - stamp(row[0])).total_seconds() * 1000)
                time.sleep(0.3)  # let the nodes go idle again (past one fallback poll)
        finally:
            store.close()
            setup.stop()
        waits.sort()
        return {
            "nodes": nodes,
            "samples": len(waits),
            "p50_ms": waits[len(waits) // 2],
            "p99_ms": waits[min(len(waits) - 1, int(len(waits) * 0.99))],
            "max_ms": waits[-1],
        }
    finally:
        drop_schema(schema)
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--wakeup-only", action="store_true", help="only the LISTEN/NOTIFY wake-up latency")
    args = parser.parse_args()
    if args.wakeup_only:
        _print_wakeup(args.workers)
        return
    print(f"# {platform.node()} {os.cpu_count()} cpus, python {platform.python_version()}, workers/node {args.workers}")
    results = [throughput("sqlite", 1, args.jobs, args.workers)]
    for n in (1, 2, 3):
        results.append(throughput("postgresql", n, args.jobs, args.workers))
    print("| backend | nodes | jobs | wall (s) | jobs/s |")
    print("|---|---|---|---|---|")
    for r in results:
        print(f"| {r['backend']} | {r['nodes']} | {r['jobs']} | {r['wall_s']:.1f} | {r['jobs_per_s']:.0f} |")
    fo = failover(args.workers)
    _print_wakeup(args.workers)
    print(f"\nfailover: leader killed → first fire by a survivor after {fo['failover_s']:.2f} s (schedule every 1s)")


def _print_wakeup(workers: int) -> None:
    wk = wakeup(2, 40, workers)
    print(
        f"\nwake-up, enqueue on another connection → running on an idle node (2 nodes, {wk['samples']} jobs): "
        f"p50 {wk['p50_ms']:.1f} ms, p99 {wk['p99_ms']:.1f} ms, max {wk['max_ms']:.1f} ms "
        "(fallback poll without NOTIFY: every 250 ms)"
    )


if __name__ == "__main__":
    main()
