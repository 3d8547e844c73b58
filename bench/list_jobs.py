"""GET /jobs benchmark (issue 3): a large job history, the real server, latency and throughput.

    .venv/bin/python bench/list_jobs.py                    # 100k and 1M jobs (about 3 minutes)
    .venv/bin/python bench/list_jobs.py --sizes 100000     # one size
    .venv/bin/python bench/list_jobs.py --quick            # 20k jobs, fewer requests (smoke test)

For each size it:

* builds a database through the store's own schema (`SqliteStore` runs the migrations) and loads
  jobs with plain INSERTs into `jobs`, so the `job_counts` triggers run for every row exactly as on
  the store's insert path. 20 plugins (Zipf-like sizes, so there is a big one and a small one) by 3
  commands; status mix 93% succeeded, 4% failed, 1% skipped, 1% queued (retry far in the future,
  so nothing runs), 0.5% dead, 0.5% timed_out; 90% submitted by the scheduler; created over the
  last 20 days, in time order, as a real history would be.
* starts the real `ductile system start` with the API on loopback (no plugin instances, so the
  dispatcher stays idle) and measures over HTTP with a minimal keep-alive HTTP/1.1 client (so the
  client's own cost stays small next to the server's):
  - `GET /healthz` (the HTTP floor) and every `GET /jobs` variant: p50/p99 of 400 sequential
    requests on one connection, with the exact `total` checked against COUNT(*) in SQLite;
  - the 20th page by cursor (pages 1..19 are walked first, outside the timing);
  - requests/s of the unfiltered first page with 16 concurrent connections for 5 s.
* prints the EXPLAIN QUERY PLAN of every statement the store runs for each variant.

Target (issue 3): each GET /jobs p50 <= 2x the /healthz p50 of the same run, p99 <= 15 ms,
>= 1,500 requests/s for the first page with 16 clients, flat from 100k to 1M.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import yaml

VENV_BIN = Path(sys.executable).parent
TOKEN = "bench-token-0123456789"
PLUGINS = [f"plugin{i:02d}" for i in range(20)]
WEIGHTS = [1 / (i + 1) for i in range(20)]  # plugin00 is the big one, plugin19 the small one
COMMANDS = ["poll", "sync", "handle"]
STATUSES = [
    ("succeeded", 0.93),
    ("failed", 0.04),
    ("skipped", 0.01),
    ("queued", 0.01),
    ("dead", 0.005),
    ("timed_out", 0.005),
]
SPAN = timedelta(days=20)
FMT = "%Y-%m-%dT%H:%M:%S.%fZ"


def build(db_path: Path, n: int, seed: int = 7) -> tuple[datetime, datetime]:
    from ductile.store import open_store

    open_store(db_path).close()  # schema and triggers exactly as the store creates them
    rng = random.Random(seed)
    end = datetime.now(UTC).replace(microsecond=0)
    start = end - SPAN
    step = SPAN / n
    statuses, status_weights = zip(*STATUSES, strict=True)
    db = sqlite3.connect(db_path, isolation_level=None)
    db.execute("PRAGMA cache_size=-512000")
    db.execute("PRAGMA synchronous=OFF")
    sql = (
        "INSERT INTO jobs (job_id, plugin, command, payload, status, attempt, max_attempts, submitted_by,"
        " created_at, started_at, completed_at, next_retry_at, last_error) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
    )
    batch = 50_000
    for offset in range(0, n, batch):
        rows = []
        for i in range(offset, min(n, offset + batch)):
            created = start + step * i
            status = rng.choices(statuses, status_weights)[0]
            c = created.strftime(FMT)
            done = (created + timedelta(milliseconds=rng.randint(20, 3000))).strftime(FMT)
            rows.append(
                (
                    str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    rng.choices(PLUGINS, WEIGHTS)[0],
                    rng.choice(COMMANDS),
                    '{"n":1}',
                    status,
                    1 if status in ("succeeded", "skipped") else rng.randint(1, 4),
                    4,
                    "scheduler" if rng.random() < 0.9 else "api",
                    c,
                    None if status in ("queued", "skipped") else c,
                    None if status == "queued" else done,
                    "2999-01-01T00:00:00.000000Z" if status == "queued" else None,
                    "boom" if status in ("failed", "dead", "timed_out") else None,
                )
            )
        db.execute("BEGIN")
        db.executemany(sql, rows)
        db.execute("COMMIT")
    db.execute("PRAGMA optimize")
    db.close()
    return start, end


def variants(start: datetime) -> list[tuple[str, dict[str, Any]]]:
    day = (start + timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    next_day = (start + timedelta(days=11)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return [
        ("no filter", {}),
        ("plugin (big)", {"plugin": "plugin00"}),
        ("plugin (small)", {"plugin": "plugin19"}),
        ("plugin+command", {"plugin": "plugin03", "command": "poll"}),
        ("plugin+status", {"plugin": "plugin00", "status": "failed"}),
        ("plugin+command+status", {"plugin": "plugin03", "command": "sync", "status": "error"}),
        ("status=failed,dead", {"status": "failed,dead"}),
        ("status=dead (rare)", {"status": "dead"}),
        ("time range (1 day)", {"created_after": day, "created_before": next_day}),
        ("plugin + time range", {"plugin": "plugin00", "created_after": day, "created_before": next_day}),
    ]


def exact_total(db_path: Path, params: dict[str, Any]) -> int:
    """COUNT(*) straight from SQLite, independent of the store's counting."""
    from ductile.api.params import job_query

    q = job_query(params)
    clauses, args = [], []
    for column in ("plugin", "command", "submitted_by"):
        if getattr(q, column):
            clauses.append(f"{column} = ?")
            args.append(getattr(q, column))
    if q.statuses:
        clauses.append(f"status IN ({','.join('?' * len(q.statuses))})")
        args += [s.value for s in q.statuses]
    if q.created_after:
        clauses.append("created_at >= ?")
        args.append(q.created_after)
    if q.created_before:
        clauses.append("created_at < ?")
        args.append(q.created_before)
    with sqlite3.connect(db_path) as db:
        return db.execute("SELECT count(*) FROM jobs WHERE " + (" AND ".join(clauses) or "1"), args).fetchone()[0]


def query_plans(db_path: Path, cases: list[tuple[str, dict[str, Any]]]) -> dict[str, list[tuple[str, list[str]]]]:
    """The statements the store runs for each variant, with SQLite's plan for each."""
    from ductile.api.params import job_query
    from ductile.store.sqlite import SqliteStore

    store = SqliteStore(db_path)
    out: dict[str, list[tuple[str, list[str]]]] = {}
    try:
        for name, params in cases:
            seen: list[str] = []
            store._db.set_trace_callback(seen.append)
            store.list_jobs(job_query(params))
            store._db.set_trace_callback(None)
            plans = []
            for sql in seen:
                if sql.lstrip().upper().startswith("SELECT"):
                    rows = store._db.execute("EXPLAIN QUERY PLAN " + sql).fetchall()
                    plans.append((sql, [r[3] for r in rows]))
            out[name] = plans
    finally:
        store.close()
    return out


# -- a minimal keep-alive HTTP/1.1 client ---------------------------------------------------


class Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Conn:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def get(self, target: str) -> tuple[int, bytes]:
        self.writer.write(f"GET {target} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {TOKEN}\r\n\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = 0
        for line in lines[1:]:
            if line.lower().startswith("content-length:"):
                length = int(line.split(":", 1)[1])
        body = await self.reader.readexactly(length)
        return status, body

    def close(self) -> None:
        self.writer.close()


def target(params: dict[str, Any], path: str = "/jobs") -> str:
    return path + ("?" + urlencode(params) if params else "")


async def latency(port: int, path: str, count: int) -> tuple[float, float, dict[str, Any]]:
    conn = await Conn.open(port)
    try:
        for _ in range(30):
            await conn.get(path)
        samples = []
        body = b""
        for _ in range(count):
            t0 = time.perf_counter()
            status, body = await conn.get(path)
            samples.append((time.perf_counter() - t0) * 1000)
            assert status == 200, (status, body[:200])
    finally:
        conn.close()
    samples.sort()
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    return statistics.median(samples), p99, json.loads(body)


async def throughput(port: int, path: str, clients: int, seconds: float) -> float:
    done = 0
    stop_at = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        conn = await Conn.open(port)
        try:
            while time.perf_counter() < stop_at:
                status, _ = await conn.get(path)
                assert status == 200
                done += 1
        finally:
            conn.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return done / (time.perf_counter() - t0)


async def cursor_of_page(port: int, page: int, limit: int = 50) -> str:
    conn = await Conn.open(port)
    try:
        cursor = None
        for _ in range(page - 1):
            params: dict[str, Any] = {"limit": limit}
            if cursor:
                params["cursor"] = cursor
            _, body = await conn.get(target(params))
            cursor = json.loads(body)["next_cursor"]
        assert cursor
        return cursor
    finally:
        conn.close()


def start_server(directory: Path, db_path: Path, port: int) -> subprocess.Popen[bytes]:
    config = {
        "service": {"log_format": "json", "job_retention": 10 * 365 * 86400},
        "database": {"path": str(db_path)},
        "plugin_roots": [],
        "plugins": {},
        "api": {
            "enabled": True,
            "listen": f"127.0.0.1:{port}",
            "auth": {"tokens": [{"name": "bench", "token": TOKEN, "scopes": ["jobs:ro"]}]},
        },
    }
    (directory / "config.yaml").write_text(yaml.safe_dump(config))
    log = open(directory / "gateway.log", "wb")  # noqa: SIM115 - handed to the child
    env = dict(os.environ, PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    proc = subprocess.Popen(
        [str(VENV_BIN / "ductile"), "system", "start", "--config", str(directory)], stdout=log, stderr=log, env=env
    )
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError((directory / "gateway.log").read_text())
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_size(n: int, workdir: Path, count: int, rps_seconds: float) -> dict[str, Any]:
    directory = workdir / f"jobs-{n}"
    directory.mkdir(parents=True, exist_ok=True)
    db_path = directory / "ductile.db"
    t0 = time.perf_counter()
    start, _ = build(db_path, n)
    build_s = time.perf_counter() - t0
    print(f"\n== {n:,} jobs (built in {build_s:.1f}s, {db_path.stat().st_size / 1e6:.0f} MB)", flush=True)
    cases = variants(start)
    plans = query_plans(db_path, cases)
    port = free_port()
    proc = start_server(directory, db_path, port)
    results: dict[str, Any] = {"n": n, "build_s": build_s, "rows": [], "plans": plans}
    try:

        async def measure() -> None:
            h50, h99, _ = await latency(port, "/healthz", count)
            results["healthz"] = (h50, h99)
            print(f"{'GET /healthz':34} p50 {h50:6.2f} ms  p99 {h99:6.2f} ms", flush=True)
            for name, params in cases:
                p50, p99, body = await latency(port, target(params), count)
                total = exact_total(db_path, params)
                assert body["total"] == total, (name, body["total"], total)
                results["rows"].append((name, params, p50, p99, total))
                print(f"{'GET /jobs ' + name:34} p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  total {total:>9,}", flush=True)
            cursor = await cursor_of_page(port, 20)
            p50, p99, body = await latency(port, target({"cursor": cursor}), count)
            assert len(body["jobs"]) == 50
            results["rows"].append(("20th page by cursor", {"cursor": "..."}, p50, p99, body["total"]))
            print(f"{'GET /jobs 20th page by cursor':34} p50 {p50:6.2f} ms  p99 {p99:6.2f} ms", flush=True)
            results["rps_healthz"] = await throughput(port, "/healthz", 16, rps_seconds)
            results["rps"] = await throughput(port, "/jobs", 16, rps_seconds)
            print(
                f"16 clients: GET /jobs {results['rps']:,.0f} req/s  (GET /healthz {results['rps_healthz']:,.0f} req/s)",
                flush=True,
            )

        asyncio.run(measure())
    finally:
        proc.terminate()
        proc.wait(20)
    return results


def report(all_results: list[dict[str, Any]]) -> str:
    """Markdown for docs/BENCHMARKS.md."""
    lines = []
    for res in all_results:
        h50, h99 = res["healthz"]
        lines.append(f"\n**{res['n']:,} jobs** (bulk load with triggers: {res['build_s']:.0f} s)\n")
        lines.append("| request | p50 ms | p99 ms | p50 / healthz p50 | total |")
        lines.append("|---|---:|---:|---:|---:|")
        lines.append(f"| `GET /healthz` | {h50:.2f} | {h99:.2f} | 1.00 | |")
        for name, _params, p50, p99, total in res["rows"]:
            lines.append(f"| `GET /jobs` {name} | {p50:.2f} | {p99:.2f} | {p50 / h50:.2f} | {total:,} |")
        lines.append(
            f"\n16 concurrent clients: `GET /jobs` (first page, 50 jobs) **{res['rps']:,.0f} req/s**; "
            f"`GET /healthz` {res['rps_healthz']:,.0f} req/s."
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--rps-seconds", type=float, default=5.0)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--workdir", help="keep databases here (default: a temp dir, removed)")
    parser.add_argument("--plans", action="store_true", help="print query plans")
    args = parser.parse_args()
    sizes = [20_000] if args.quick else [int(s) for s in args.sizes.split(",")]
    count = 100 if args.quick else args.requests
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="ductile-bench-"))
    try:
        results = [run_size(n, workdir, count, 1.0 if args.quick else args.rps_seconds) for n in sizes]
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    print("\n" + report(results))
    if args.plans or not args.quick:
        print("\nQuery plans (largest size):")
        for name, plans in results[-1]["plans"].items():
            print(f"\n{name}:")
            for sql, plan in plans:
                print(f"  {sql}")
                for step in plan:
                    print(f"      {step}")


if __name__ == "__main__":
    main()
