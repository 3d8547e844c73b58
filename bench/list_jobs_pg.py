"""GET /jobs on PostgreSQL: the same benchmark as bench/list_jobs.py, with the store on a server.

    .venv/bin/python bench/list_jobs_pg.py                   # 100k and 1M jobs
    .venv/bin/python bench/list_jobs_pg.py --sizes 100000
    .venv/bin/python bench/list_jobs_pg.py --sizes 1000000 --keep      # leave the loaded schema
    .venv/bin/python bench/list_jobs_pg.py --schema bench_jobs_ab12cd34 --runs 3
                                               # measure a kept schema again: 3 runs, medians
    DUCTILE_BENCH_PG_URL=postgresql://… (default: the local test server, database `test`)

The history is the one list_jobs.py builds (same plugins, statuses, submitters and time span),
loaded with COPY into a fresh schema the store created, so the job_counts / job_counts_hourly
triggers run for every row exactly as on the store's insert path; then ANALYZE. The real
`ductile system start` serves it with `database.url` pointing at that schema; latency, exact
`total` (checked against COUNT(*) on the server) and 16-client throughput are measured with
list_jobs.py's own client, and reported in the same table shape (docs/BENCHMARKS.md). Each
filter's requests alternate with /healthz requests on the same connection, and the ratio that
counts is the filter's p50 over the /healthz p50 measured beside it (the `GET /healthz` line is
measured alone, first).

Loading 1M jobs takes minutes (a quarter of an hour on a loaded machine), so `--keep` leaves the
schema and `--schema` measures it again; `--runs N` restarts the gateway N times on it and
reports each line's median p50/p99 (each run measures /healthz beside the filters, so ratios are
taken within a run). `--gateway-src DIR` runs the gateway from another checkout's src/ (a
before/after pair on one schema, as bench/dispatch.py's --before-src).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import psycopg
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import list_jobs as base

PG = os.environ.get("DUCTILE_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def schema_url(schema: str) -> str:
    sep = "&" if "?" in PG else "?"
    return f"{PG}{sep}options={quote(f'-csearch_path={schema}')}"


def build(url: str, n: int, seed: int = 7) -> datetime:
    from ductile.store import open_store

    open_store(url).close()
    rng = random.Random(seed)
    end = datetime.now(UTC).replace(microsecond=0)
    start = end - base.SPAN
    step = base.SPAN / n
    statuses, weights = zip(*base.STATUSES, strict=True)
    columns = (
        "job_id, plugin, command, payload, status, attempt, max_attempts, submitted_by, created_at, started_at,"
        " completed_at, next_retry_at, last_error"
    )
    batch = 50_000  # one transaction per batch: a counts row updated in one transaction keeps every version
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        for offset in range(0, n, batch):
            _copy_batch(cur, columns, rng, start, step, statuses, weights, offset, min(n, offset + batch))
            conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        # The load updated each counts row ~1,400 times inside 20 transactions, leaving the
        # tables thousands of pages long; in steady state HOT pruning keeps them a few pages, as
        # VACUUM FULL does here (otherwise /healthz and the unfiltered total scan ~60 MB).
        conn.execute("VACUUM FULL job_counts")
        conn.execute("VACUUM FULL job_counts_hourly")
        conn.execute("VACUUM ANALYZE")
    return start


def _copy_batch(
    cur: Any,
    columns: str,
    rng: random.Random,
    start: datetime,
    step: Any,
    statuses: Any,
    weights: Any,
    lo: int,
    hi: int,
) -> None:
    with cur.copy(f"COPY jobs ({columns}) FROM STDIN") as copy:
        for i in range(lo, hi):
            created = start + step * i
            status = rng.choices(statuses, weights)[0]
            c = created.strftime(base.FMT)
            done = (created + timedelta(milliseconds=rng.randint(20, 3000))).strftime(base.FMT)
            copy.write_row(
                (
                    str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    rng.choices(base.PLUGINS, base.WEIGHTS)[0],
                    rng.choice(base.COMMANDS),
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


async def paired(port: int, path: str, count: int) -> tuple[tuple[float, float, Any], tuple[float, float]]:
    """`path` and /healthz, one request each in turn on one connection: (p50, p99, last body) of
    `path` and (p50, p99) of /healthz. On a machine shared with other work, load moves within a
    run; measured in alternation, both sides see the same load, so their ratio is what counts."""
    conn = await base.Conn.open(port)
    try:
        for _ in range(30):
            await conn.get(path)
            await conn.get("/healthz")
        samples: dict[str, list[float]] = {path: [], "/healthz": []}
        body = b""
        for _ in range(count):
            for which in (path, "/healthz"):
                t0 = time.perf_counter()
                status, answer = await conn.get(which)
                samples[which].append((time.perf_counter() - t0) * 1000)
                assert status == 200, (status, answer[:200])
                if which == path:
                    body = answer
    finally:
        conn.close()

    def cut(values: list[float]) -> tuple[float, float]:
        values.sort()
        return statistics.median(values), values[min(len(values) - 1, int(len(values) * 0.99))]

    p50, p99 = cut(samples[path])
    return (p50, p99, json.loads(body)), cut(samples["/healthz"])


_TOTALS: dict[tuple[str, str], int] = {}


def exact_total(url: str, params: dict[str, Any]) -> int:
    """COUNT(*) on the server, once per schema and filter (the history does not change)."""
    key = (url, repr(sorted(params.items())))
    if key not in _TOTALS:
        _TOTALS[key] = _count_rows(url, params)
    return _TOTALS[key]


def _count_rows(url: str, params: dict[str, Any]) -> int:
    from ductile.api.params import job_query

    q = job_query(params)
    clauses, args = [], []
    for column in ("plugin", "command", "submitted_by"):
        if getattr(q, column):
            clauses.append(f"{column} = %s")
            args.append(getattr(q, column))
    if q.statuses:
        clauses.append("status = ANY(%s)")
        args.append([s.value for s in q.statuses])
    if q.created_after:
        clauses.append("created_at >= %s")
        args.append(q.created_after)
    if q.created_before:
        clauses.append("created_at < %s")
        args.append(q.created_before)
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM jobs WHERE " + (" AND ".join(clauses) or "TRUE"), args).fetchone()[0]


def start_server(directory: Path, url: str, port: int, src: str | None = None) -> subprocess.Popen[bytes]:
    config = {
        "service": {"log_format": "json", "job_retention": 10 * 365 * 86400},
        "database": {"url": url, "path": str(directory / "data" / "unused.db")},
        "plugin_roots": [],
        "plugins": {},
        "api": {
            "enabled": True,
            "listen": f"127.0.0.1:{port}",
            "auth": {"tokens": [{"name": "bench", "token": base.TOKEN, "scopes": ["jobs:ro"]}]},
        },
    }
    (directory / "config.yaml").write_text(yaml.safe_dump(config))
    log = open(directory / "gateway.log", "wb")  # noqa: SIM115 - handed to the child
    env = {**os.environ, "PYTHONPATH": src} if src else None
    proc = subprocess.Popen(
        [str(base.VENV_BIN / "ductile"), "system", "start", "--config", str(directory)], stdout=log, stderr=log, env=env
    )
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


def run_size(n: int, count: int, rps_seconds: float, *, keep: bool = False) -> dict[str, Any]:
    schema = f"bench_jobs_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    url = schema_url(schema)
    try:
        t0 = time.perf_counter()
        build(url, n)
        build_s = time.perf_counter() - t0
        print(f"\n== {n:,} jobs on PostgreSQL (COPY + triggers + ANALYZE in {build_s:.1f}s)", flush=True)
        return {**measure_schema(schema, count, rps_seconds), "build_s": build_s}
    finally:
        if keep:
            print(f"kept schema {schema} (measure again: --schema {schema}; drop it when done)", flush=True)
        else:
            with psycopg.connect(PG, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def worst_range(start: datetime) -> tuple[str, dict[str, Any]]:
    """list_jobs.py's 1-day range moved to :30 past the hour at both ends: the bounds `variants`
    gives sit wherever the load started, and the exact count of a range counts rows only in the
    partial edge hours (each from its smaller side), so half past is where it costs most."""
    lo = (start + timedelta(days=10)).replace(minute=30, second=0)
    day = {
        "created_after": lo.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "created_before": (lo + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    return "time range (1 day, at :30)", day


def measure_schema(schema: str, count: int, rps_seconds: float, src: str | None = None) -> dict[str, Any]:
    """One gateway run over a loaded schema: /healthz, every filter, the cursor page, 16 clients."""
    url = schema_url(schema)
    with psycopg.connect(url) as conn:
        n, first = conn.execute("SELECT count(*), min(created_at) FROM jobs").fetchone()
    start = datetime.fromisoformat(first)  # build() spaces the jobs from `start` on
    directory = Path(tempfile.mkdtemp(prefix="ductile-pgjobs-"))
    cases = [*base.variants(start), worst_range(start)]
    port = base.free_port()
    proc = start_server(directory, url, port, src)
    results: dict[str, Any] = {"n": n, "build_s": 0.0, "rows": [], "paired": []}
    try:

        async def measure() -> None:
            h50, h99, _ = await base.latency(port, "/healthz", count)
            results["healthz"] = (h50, h99)
            print(f"{'GET /healthz':34} p50 {h50:6.2f} ms  p99 {h99:6.2f} ms", flush=True)
            for name, params in cases:
                (p50, p99, body), (b50, _) = await paired(port, base.target(params), count)
                total = exact_total(url, params)
                assert body["total"] == total, (name, body["total"], total)
                results["rows"].append((name, params, p50, p99, total))
                results["paired"].append(p50 / b50)
                print(
                    f"{'GET /jobs ' + name:34} p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  total {total:>9,}"
                    f"  (healthz beside it {b50:5.2f} ms: {p50 / b50:.2f}x)",
                    flush=True,
                )
            cursor = await base.cursor_of_page(port, 20)
            (p50, p99, body), (b50, _) = await paired(port, base.target({"cursor": cursor}), count)
            assert len(body["jobs"]) == 50
            results["rows"].append(("20th page by cursor", {"cursor": "..."}, p50, p99, body["total"]))
            results["paired"].append(p50 / b50)
            results["rps_healthz"] = await base.throughput(port, "/healthz", 16, rps_seconds)
            results["rps"] = await base.throughput(port, "/jobs", 16, rps_seconds)
            print(f"16 clients: GET /jobs {results['rps']:,.0f} req/s", flush=True)

        asyncio.run(measure())
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    return results


def medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each line's median p50 and p99 over runs (and of the req/s figures), in report()'s shape;
    every total was already checked exact in its own run."""
    out = dict(runs[0])
    out["healthz"] = tuple(statistics.median(r["healthz"][i] for r in runs) for i in (0, 1))
    out["rows"] = [
        (
            name,
            params,
            statistics.median(r["rows"][k][2] for r in runs),
            statistics.median(r["rows"][k][3] for r in runs),
            total,
        )
        for k, (name, params, _p50, _p99, total) in enumerate(runs[0]["rows"])
    ]
    for key in ("rps", "rps_healthz"):
        out[key] = statistics.median(r[key] for r in runs)
    out["ratios"] = [[r["paired"][k] for r in runs] for k in range(len(runs[0]["rows"]))]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--rps-seconds", type=float, default=5.0)
    parser.add_argument("--keep", action="store_true", help="keep each loaded schema (its name is printed)")
    parser.add_argument("--schema", action="append", help="measure this kept schema instead of loading (repeatable)")
    parser.add_argument("--runs", type=int, default=1, help="gateway runs per schema; medians are reported")
    parser.add_argument("--gateway-src", help="run the gateway from this src/ directory (default: this checkout)")
    args = parser.parse_args()
    results = []
    if args.schema:
        for schema in args.schema:
            runs = []
            for i in range(args.runs):
                print(f"\n== schema {schema}, run {i + 1} of {args.runs}", flush=True)
                runs.append(measure_schema(schema, args.requests, args.rps_seconds, args.gateway_src))
            results.append(medians(runs))
    else:
        results = [run_size(int(s), args.requests, args.rps_seconds, keep=args.keep) for s in args.sizes.split(",")]
    print("\n" + base.report(results))
    for res in results:
        for (name, *_), ratios in zip(res["rows"], res.get("ratios") or [[x] for x in res["paired"]], strict=True):
            print(
                f"{res['n']:,} {name}: p50 / paired healthz p50 per run {', '.join(f'{x:.2f}' for x in ratios)}"
                f" (median {statistics.median(ratios):.2f})"
            )


if __name__ == "__main__":
    main()
