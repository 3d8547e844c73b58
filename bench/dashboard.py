"""Dashboard benchmark (issue 14): render time of /ui and /ui/jobs over a big history, and the
gateway's dispatch throughput with five dashboards open against none.

    .venv/bin/python bench/dashboard.py              # 1,000,000 jobs, 200 schedules (a few minutes)
    .venv/bin/python bench/dashboard.py --quick      # 50,000 jobs, fewer requests (smoke test)

* The database is built through the store's own schema (migrations, triggers) and filled with
  plain INSERTs: 20 instances x 10 schedules (cron every 15 minutes or hourly, so nothing fires
  while measuring), 90 % of jobs submitted by the scheduler under their schedule's dedupe key,
  status mix 93 % succeeded / 4 % failed / 1 % skipped / 1 % dead / 1 % timed_out, created over
  the last 20 days in time order.
* The real `ductile system start` serves it; the bench signs in through the login form and
  times requests over loopback with one keep-alive connection: `GET /healthz` (the HTTP floor),
  `GET /ui` computed afresh (requests spaced past the overview's 1 s sharing, so every one
  computes), `GET /ui` within the sharing window, and `GET /ui/jobs` (no filter, and a
  plugin+status filter). Medians and p95 of the same run, side by side.
* Dispatch: N trivial jobs enqueued at once, time from the first `started_at` to the last
  `completed_at` (from the database), with 0 dashboards and with 5, alternated over paired runs.
  A "dashboard" is what ui.js does: an open `/ui/events` stream, and on every event a re-fetch of
  `/ui/fragment/overview` (at most every 3 s) and `/ui/fragment/jobs` (every 1.5 s).

Targets: overview <= 300 ms server time, jobs page <= 100 ms; throughput with 5 dashboards
within 10 % of none.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import signal
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

import httpx
import yaml

VENV_BIN = Path(sys.executable).parent
TOKEN = "bench-dashboard-token-0123456789"
INSTANCES = [f"inst{i:02d}" for i in range(20)]
SCHEDULES = [f"s{j}" for j in range(10)]
SPAN = timedelta(days=20)
FMT = "%Y-%m-%dT%H:%M:%S.%fZ"
STATUSES = [("succeeded", 0.93), ("failed", 0.04), ("skipped", 0.01), ("dead", 0.01), ("timed_out", 0.01)]
PLUGIN = '#!/usr/bin/env bash\ncat >/dev/null\necho \'{"status":"ok","result":{}}\'\n'


def build(db_path: Path, n: int, seed: int = 7) -> None:
    from ductile.store import open_store

    open_store(db_path).close()
    rng = random.Random(seed)
    end = datetime.now(UTC).replace(microsecond=0)
    start = end - SPAN
    step = SPAN / n
    statuses, weights = zip(*STATUSES, strict=True)
    db = sqlite3.connect(db_path, isolation_level=None)
    db.execute("PRAGMA cache_size=-512000")
    db.execute("PRAGMA synchronous=OFF")
    sql = (
        "INSERT INTO jobs (job_id, plugin, command, payload, status, attempt, max_attempts, submitted_by, dedupe_key,"
        " created_at, started_at, completed_at, next_retry_at, last_error) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
    )
    for offset in range(0, n, 50_000):
        rows = []
        for i in range(offset, min(n, offset + 50_000)):
            created = start + step * i
            status = rng.choices(statuses, weights)[0]
            plugin = rng.choice(INSTANCES)
            scheduled = rng.random() < 0.9
            c = created.strftime(FMT)
            rows.append(
                (
                    str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    plugin,
                    "poll",
                    "{}",
                    status,
                    1,
                    1,
                    "scheduler" if scheduled else "api",
                    f"{plugin}:poll:{rng.choice(SCHEDULES)}" if scheduled else None,
                    c,
                    c,
                    (created + timedelta(milliseconds=rng.randint(20, 3000))).strftime(FMT),
                    None,
                    "boom" if status in ("failed", "dead", "timed_out") else None,
                )
            )
        db.execute("BEGIN")
        db.executemany(sql, rows)
        db.execute("COMMIT")
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "schedule_skips" in tables:  # migration 0009: a stored skip for about 1 % of slots too
        skip_rows = []
        for _ in range(n // 100):
            at = start + SPAN * rng.random()
            plugin = rng.choice(INSTANCES)
            skip_rows.append((plugin, rng.choice(SCHEDULES), "poll", at.strftime(FMT), at.strftime(FMT), "circuit_open"))
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO schedule_skips (instance, schedule_id, command, slot, at, reason) VALUES (?,?,?,?,?,?)", skip_rows
        )
        db.execute("COMMIT")
    db.execute("PRAGMA optimize")
    db.close()


def write_setup(root: Path, port: int) -> Path:
    plugin_dir = root / "plugins" / "fast"
    plugin_dir.mkdir(parents=True)
    (plugin_dir / "manifest.yaml").write_text(
        yaml.safe_dump(
            {
                "manifest_spec": "ductile.plugin",
                "manifest_version": 1,
                "name": "fast",
                "version": "1.0.0",
                "protocol": 2,
                "entrypoint": "run",
                "commands": [{"name": "poll", "type": "read"}],
            }
        )
    )
    (plugin_dir / "run").write_text(PLUGIN)
    (plugin_dir / "run").chmod(0o755)
    plugins: dict[str, Any] = {"fast": {}}
    for i, name in enumerate(INSTANCES):
        plugins[name] = {
            "uses": "fast",
            "schedules": [
                {"id": s, "cron": "*/15 * * * *" if (i + j) % 2 else "0 * * * *", "timezone": "UTC"}
                for j, s in enumerate(SCHEDULES)
            ],
        }
    config = {
        "service": {"log_format": "json", "max_workers": 2, "drain_grace": "5s", "kill_grace": "1s"},
        "database": {"path": str(root / "ductile.db")},
        "plugin_roots": [str(root / "plugins")],
        "plugins": plugins,
        "api": {
            "enabled": True,
            "listen": f"127.0.0.1:{port}",
            "auth": {"tokens": [{"name": "bench", "token": TOKEN, "scopes": ["*"]}]},
        },
    }
    (root / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return root


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


PROFILERS: list[subprocess.Popen[bytes]] = []


def start(root: Path, port: int) -> subprocess.Popen[bytes]:
    log = open(root / "gateway.log", "ab")  # noqa: SIM115 - the child owns it
    proc = subprocess.Popen([str(VENV_BIN / "ductile"), "system", "start", "--config", str(root)], stdout=log, stderr=log)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                profile = os.environ.get("BENCH_PYSPY")  # a file: sample the gateway (collapsed stacks)
                if profile:
                    spy = [str(VENV_BIN / "py-spy"), "record", "--format", "raw", "-r", "50", "-o", profile]
                    PROFILERS.append(subprocess.Popen([*spy, "--pid", str(proc.pid)], stdout=log, stderr=log))
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"gateway did not start:\n{(root / 'gateway.log').read_text()[-3000:]}")


def login(url: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=60)
    nonce = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/ui/login").text).group(1)  # type: ignore[union-attr]
    assert client.post("/ui/login", data={"token": TOKEN, "csrf_token": nonce}).status_code == 303
    return client


COMPUTED: list[tuple[float, float]] = []  # /ui requests that computed the data: (total ms, data ms)


def timed(client: httpx.Client, path: str, runs: int, spacing: float = 0.0) -> list[float]:
    out = []
    for _ in range(runs):
        if spacing:
            time.sleep(spacing)
        t0 = time.perf_counter()
        response = client.get(path)
        out.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200, (path, response.status_code, response.text[:200])
        found = re.match(r'data;dur=([\d.]+);desc="computed"', response.headers.get("server-timing", ""))
        if found:
            COMPUTED.append((out[-1], float(found.group(1))))
    return out


def load() -> str:
    """The 1-minute load average, printed beside every figure (the machine is shared)."""
    return f"load {os.getloadavg()[0]:.2f}"


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, round(0.95 * len(values)) - 1)]


async def dashboard(url: str, cookie: str, stop: asyncio.Event, counts: list[int]) -> None:
    """What ui.js does for one open overview and jobs page: SSE, and throttled re-fetches."""
    jar = {"ductile_ui": cookie}
    async with httpx.AsyncClient(base_url=url, cookies=jar, timeout=60) as client:
        last = {"/ui/fragment/overview": 0.0, "/ui/fragment/jobs": 0.0}
        every = {"/ui/fragment/overview": 3.0, "/ui/fragment/jobs": 1.5}  # data-live-min-ms of each page
        pending = asyncio.Event()

        async def refetch() -> None:
            try:
                await refetch_loop()
            except httpx.HTTPError:
                return  # the run ended and its connections closed

        async def refetch_loop() -> None:
            while not stop.is_set():
                await pending.wait()
                pending.clear()
                for path, at in last.items():
                    wait = at + every[path] - time.monotonic()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    last[path] = time.monotonic()
                    await client.get(path, headers={"X-Requested-With": "fetch"})
                    counts[0] += 1

        task = asyncio.create_task(refetch())
        async with client.stream("GET", "/ui/events") as stream:
            async for line in stream.aiter_lines():
                if stop.is_set():
                    break
                if line.startswith("data:"):
                    pending.set()
        task.cancel()


def finished_span(db_path: Path, since: str) -> tuple[int, float]:
    with sqlite3.connect(db_path, timeout=30) as db:
        row = db.execute(
            "SELECT count(*), min(started_at), max(completed_at) FROM jobs WHERE plugin = 'fast' AND created_at >= ?"
            " AND status = 'succeeded'",
            (since,),
        ).fetchone()
    if not row[0]:
        return 0, 0.0
    first = datetime.strptime(row[1], FMT)
    last = datetime.strptime(row[2], FMT)
    return row[0], (last - first).total_seconds()


def throughput(url: str, db_path: Path, jobs: int, dashboards: int, cookies: list[str]) -> float:
    """Jobs/s for `jobs` trivial jobs enqueued at once, with `dashboards` emulated pages open."""
    since = datetime.now(UTC).strftime(FMT)
    counts = [0]

    async def run() -> float:
        stop = asyncio.Event()
        pages = [asyncio.create_task(dashboard(url, cookies[i], stop, counts)) for i in range(dashboards)]
        await asyncio.sleep(1.0 if dashboards else 0)
        async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60) as api:
            for _ in range(jobs):
                response = await api.post("/plugin/fast/poll", json={"payload": {}})
                assert response.status_code == 202, response.text
        while True:
            done, span = finished_span(db_path, since)
            if done >= jobs:
                break
            await asyncio.sleep(0.25)
        stop.set()
        for page in pages:
            page.cancel()
        await asyncio.gather(*pages, return_exceptions=True)
        return done / span if span else float("nan")

    rate = asyncio.run(run())
    print(f"  dashboards={dashboards}: {rate:7.1f} jobs/s  ({counts[0]} fragment fetches)   {load()}")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=1_000_000, help="history size")
    parser.add_argument("--quick", action="store_true", help="50k jobs, fewer requests and pairs")
    parser.add_argument("--pairs", type=int, default=3, help="paired throughput runs (none, five)")
    parser.add_argument("--batch", type=int, default=200, help="jobs per throughput run")
    parser.add_argument(
        "--db-cache",
        type=Path,
        help="reuse this built history (copied per run; built there first when absent): paired runs of two "
        "versions then read the same data. Build it with the older version (a newer schema refuses to open it)",
    )
    args = parser.parse_args()
    if args.quick:
        args.jobs, args.pairs, args.batch = 50_000, 1, 60
    runs = 8 if args.quick else 20
    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as tmp:
        root = Path(tmp)
        port = free_port()
        write_setup(root, port)
        t0 = time.perf_counter()
        if args.db_cache is not None and args.db_cache.exists():
            shutil.copyfile(args.db_cache, root / "ductile.db")
            print(f"copied the history from {args.db_cache} (--db-cache) in {time.perf_counter() - t0:.0f} s")
        else:
            build(root / "ductile.db", args.jobs)
            if args.db_cache is not None:
                shutil.copyfile(root / "ductile.db", args.db_cache)
            print(f"built {args.jobs:,} jobs, {len(INSTANCES) * len(SCHEDULES)} schedules in {time.perf_counter() - t0:.0f} s")
        proc = start(root, port)
        url = f"http://127.0.0.1:{port}"
        try:
            client = login(url)
            first = timed(client, "/ui", 1)[0]
            floor = timed(client, "/healthz", runs * 2)
            fresh = timed(client, "/ui", runs, spacing=2.0)  # past the 1 s minimum sharing: most compute
            shared = timed(client, "/ui", runs)
            jobs_page = timed(client, "/ui/jobs", runs * 2)
            filtered = timed(client, "/ui/jobs?plugin=inst03&status=failed&status=dead", runs * 2)
            print(f"\nrender over loopback, ms (median / p95, {runs}-{runs * 2} requests each)")
            print(f"  GET /healthz (floor)            {statistics.median(floor):7.1f} / {p95(floor):7.1f}   {load()}")
            print(f"  GET /ui first request            {first:7.1f}             {load()}")
            print(f"  GET /ui, requests 2 s apart      {statistics.median(fresh):7.1f} / {p95(fresh):7.1f}   target <= 300   {load()}")
            later = COMPUTED[1:]  # not the first (cold) request
            if later:
                totals, datas = [t for t, _ in later], [d for _, d in later]
                print(f"  GET /ui that computed ({len(later):2d})      {statistics.median(totals):7.1f} / {p95(totals):7.1f}"
                      f"   (gathering the data: {statistics.median(datas):.1f} / {p95(datas):.1f})   {load()}")
            print(f"  GET /ui back to back (shared)    {statistics.median(shared):7.1f} / {p95(shared):7.1f}   {load()}")
            print(f"  GET /ui/jobs                     {statistics.median(jobs_page):7.1f} / {p95(jobs_page):7.1f}   target <= 100   {load()}")
            print(f"  GET /ui/jobs plugin+status       {statistics.median(filtered):7.1f} / {p95(filtered):7.1f}   target <= 100   {load()}")
            cookies = [login(url).cookies["ductile_ui"] for _ in range(5)]
            print(f"\ndispatch throughput, {args.batch} trivial jobs per run, max_workers 2 (paired, alternated)")
            none, five = [], []
            for i in range(args.pairs):
                order = (0, 5) if i % 2 == 0 else (5, 0)
                for n in order:
                    (none if n == 0 else five).append(throughput(url, root / "ductile.db", args.batch, n, cookies))
            ratio = statistics.median(five) / statistics.median(none)
            print(f"  median none {statistics.median(none):.1f} jobs/s, five {statistics.median(five):.1f} jobs/s: "
                  f"{ratio:.1%} of none (target >= 90 %)   {load()}")
        finally:
            for spy in PROFILERS:
                spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
                spy.wait(60)
            proc.terminate()
            proc.wait(30)


if __name__ == "__main__":
    main()
