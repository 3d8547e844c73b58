"""Dashboard benchmark (issue 14): page render time with a big history, and what open dashboards
cost the dispatcher.

    .venv/bin/python bench/dashboard.py                 # 1M jobs, 200 schedules (about 10 minutes)
    .venv/bin/python bench/dashboard.py --jobs 100000   # a smaller history
    .venv/bin/python bench/dashboard.py --quick         # 20k jobs, few samples, one pair (smoke test)

Setup: a database of `--jobs` finished jobs built like bench/list_jobs.py (the store's schema and
triggers, plain INSERTs: 20 plugins, 93 % succeeded, 90 % from the scheduler, over 20 days), and
the real `ductile system start` with 20 instances of a trivial plugin named like the seeded ones,
10 schedules each (200; daily cron entries 12 hours away, so none fires during the run), API and
dashboard on loopback. The benchmark signs in through the real login form (GET /ui/login for the
form's CSRF value, POST the token) and sends the session cookie like a browser.

1. Time to first render, server side: the full HTML of `GET /ui` (overview) and `GET /ui/jobs`
   (jobs page) with the session cookie, p50/p99 of `--samples` sequential requests on one
   keep-alive connection, beside `GET /healthz` measured in the same run (the HTTP floor).
   Targets: overview p50 <= 300 ms, jobs page p50 <= 100 ms.
2. Dispatch throughput with 5 dashboards open vs none: `--dispatch-jobs` jobs of the trivial
   plugin enqueued over the API, throughput = jobs / (last completed_at - first started_at) from
   the database. "5 dashboards": 5 simulated tabs (3 on the overview, 2 on the jobs page), each
   loading its page, holding `/ui/events` (SSE) open and re-fetching every `data-live-src` region
   of its page when a matching event arrives, at most once per `data-live-min-ms`, as ui.js does.
   Paired runs (none / five, order alternated); the ratio of each pair, and their median, printed.
   Target: the median ratio >= 0.90.

Tabs are simulated over HTTP rather than opened in Chromium on purpose: the question is what the
gateway pays for them, and five browsers on a 2-core machine would measure the browsers.
"""

from __future__ import annotations

import argparse
import asyncio
import html.parser
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import yaml
from list_jobs import PLUGINS, build, free_port  # a sibling bench script (bench/ is on sys.path)

VENV_BIN = Path(sys.executable).parent
TOKEN = "bench-dashboard-token-0123456789"
SCHEDULES_PER_PLUGIN = 10
PAGES = [("overview", "/ui", 300.0), ("jobs page", "/ui/jobs", 100.0)]  # (name, path, p50 target ms)
TABS = ["/ui", "/ui", "/ui", "/ui/jobs", "/ui/jobs"]

TRIVIAL = """\
#!/bin/sh
cat >/dev/null
printf '%s\\n' '{"status":"ok","result":{"ok":true}}'
"""


# -- setup ----------------------------------------------------------------------------------


def write_config(directory: Path, db_path: Path, port: int) -> None:
    plugin_dir = directory / "plugins" / "bench"
    plugin_dir.mkdir(parents=True, exist_ok=True)
    manifest = {
        "manifest_spec": "ductile.plugin",
        "manifest_version": 1,
        "name": "bench",
        "version": "1",
        "protocol": 2,
        "entrypoint": "run",
        "commands": [{"name": c, "type": "read"} for c in ("poll", "sync", "handle")],
    }
    (plugin_dir / "manifest.yaml").write_text(yaml.safe_dump(manifest))
    (plugin_dir / "run").write_text(TRIVIAL)
    (plugin_dir / "run").chmod(0o755)
    hour = (datetime.now(UTC).hour + 12) % 24  # daily slots half a day away: none fires while measuring
    plugins: dict[str, Any] = {}
    for p, name in enumerate(PLUGINS):
        plugins[name] = {
            "uses": "bench",
            "schedules": [
                {
                    "id": f"s{i:02d}",
                    "command": ("poll", "sync")[i % 2],
                    "cron": f"{(p * 3 + i) % 60} {hour} * * *",
                }
                for i in range(SCHEDULES_PER_PLUGIN)
            ],
        }
    plugins["runner"] = {"uses": "bench"}  # the dispatch part's jobs; no history of its own
    config = {
        "service": {"log_format": "json", "job_retention": 10 * 365 * 86400, "max_workers": 2},
        "database": {"path": str(db_path)},
        "plugin_roots": [str(directory / "plugins")],
        "plugins": plugins,
        "api": {
            "enabled": True,
            "listen": f"127.0.0.1:{port}",
            "auth": {"tokens": [{"name": "bench", "token": TOKEN, "scopes": ["*"]}]},
        },
    }
    (directory / "config.yaml").write_text(yaml.safe_dump(config))


def start_gateway(directory: Path, port: int) -> subprocess.Popen[bytes]:
    log = open(directory / "gateway.log", "wb")  # noqa: SIM115 - handed to the child
    env = dict(os.environ, PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    proc = subprocess.Popen(
        [str(VENV_BIN / "ductile"), "system", "start", "--config", str(directory)], stdout=log, stderr=log, env=env
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError((directory / "gateway.log").read_text()[-4000:])
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("gateway did not start in 120 s")


def sign_in(base: str) -> str:
    """The session cookie, obtained through the real form as a browser would."""
    with httpx.Client(base_url=base, timeout=30) as client:
        form = client.get("/ui/login")
        form.raise_for_status()
        match = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert match, "no CSRF field in the login form"
        done = client.post(
            "/ui/login",
            data={"token": TOKEN, "csrf_token": match.group(1), "next": "/ui"},
            headers={"Origin": base},
        )
        assert done.status_code == 303, (done.status_code, done.text[:300])
        return client.cookies["ductile_ui"]


# -- a keep-alive HTTP/1.1 client that reads both Content-Length and chunked bodies -------------


class Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, headers: str):
        self.reader, self.writer, self.headers = reader, writer, headers

    @classmethod
    async def open(cls, port: int, cookie: str | None = None) -> Conn:
        headers = f"Cookie: ductile_ui={cookie}\r\n" if cookie else ""
        return cls(*await asyncio.open_connection("127.0.0.1", port, limit=1 << 22), headers)

    async def get(self, path: str, extra: str = "") -> tuple[int, bytes]:
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\n{self.headers}{extra}\r\n".encode())
        head = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(head[0].split()[1])
        fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:] if line)}
        if fields.get("transfer-encoding", "").lower() == "chunked":
            body = bytearray()
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                body += await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                del body[-2:]
            return status, bytes(body)
        return status, await self.reader.readexactly(int(fields.get("content-length", "0")))

    def close(self) -> None:
        self.writer.close()


def percentile(sorted_samples: list[float], q: float) -> float:
    return sorted_samples[min(len(sorted_samples) - 1, int(len(sorted_samples) * q))]


async def latency(port: int, path: str, samples: int, cookie: str | None) -> tuple[float, float, int, bytes]:
    conn = await Conn.open(port, cookie)
    try:
        for _ in range(3):
            await conn.get(path)
        out, body, status = [], b"", 0
        for _ in range(samples):
            t0 = time.perf_counter()
            status, body = await conn.get(path)
            out.append((time.perf_counter() - t0) * 1000)
            if status != 200:
                break
    finally:
        conn.close()
    out.sort()
    return statistics.median(out), percentile(out, 0.99), status, body


# -- simulated dashboard tabs -------------------------------------------------------------


class LiveRegions(html.parser.HTMLParser):
    """The `data-live-src` regions of a page, as ui.js finds them."""

    def __init__(self) -> None:
        super().__init__()
        self.regions: list[tuple[str, tuple[str, ...], float]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("data-live-src"):
            types = tuple(t.strip() for t in (a.get("data-live-types") or "").split(",") if t.strip())
            self.regions.append((str(a["data-live-src"]), types, float(a.get("data-live-min-ms") or 1000) / 1000))


class Tab:
    """One open dashboard: its page loaded, /ui/events held open, live regions re-fetched on
    matching events no more often than the page's script would."""

    def __init__(self, port: int, cookie: str, path: str):
        self.port, self.cookie, self.path = port, cookie, path
        self.fetches = 0
        self.events = 0
        self.regions: list[tuple[str, tuple[str, ...], float]] = []

    async def run(self, stop: asyncio.Event) -> None:
        page = await Conn.open(self.port, self.cookie)
        status, body = await page.get(self.path)
        page.close()
        assert status == 200, (self.path, status)
        parser = LiveRegions()
        parser.feed(body.decode("utf-8", "replace"))
        self.regions = parser.regions
        dirty = [asyncio.Event() for _ in self.regions]
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        writer.write(
            f"GET /ui/events HTTP/1.1\r\nHost: bench\r\nCookie: ductile_ui={self.cookie}\r\n"
            "Accept: text/event-stream\r\n\r\n".encode()
        )
        await reader.readuntil(b"\r\n\r\n")

        async def refresher(i: int) -> None:
            """ui.js's refresher: events while a fetch is due collapse into one, one per min-ms."""
            src, _types, min_gap = self.regions[i]
            conn = await Conn.open(self.port, self.cookie)
            last = 0.0
            try:
                while not stop.is_set():
                    await dirty[i].wait()
                    wait = last + min_gap - time.monotonic()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    if stop.is_set():
                        break
                    dirty[i].clear()
                    last = time.monotonic()
                    await conn.get(src, "X-Requested-With: fetch\r\n")
                    self.fetches += 1
            finally:
                conn.close()

        workers = [asyncio.create_task(refresher(i)) for i in range(len(self.regions))]
        try:
            while not stop.is_set():
                try:
                    line = await asyncio.wait_for(reader.readline(), 0.5)
                except TimeoutError:
                    continue
                if not line:
                    break
                match = re.search(rb'"type":\s*"([^"]+)"', line) if line.startswith(b"data:") else None
                if match is None:
                    continue
                self.events += 1
                kind = match.group(1).decode()
                for i, (_src, types, _gap) in enumerate(self.regions):
                    if not types or any(kind.startswith(t) for t in types):
                        dirty[i].set()
        finally:
            for event in dirty:
                event.set()  # wake the refreshers so they see `stop`
            await asyncio.gather(*workers, return_exceptions=True)
            writer.close()


# -- dispatch throughput ------------------------------------------------------------------


def finished_window(db_path: Path, since: str) -> tuple[int, float]:
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30) as db:
        row = db.execute(
            "SELECT count(*), min(started_at), max(completed_at) FROM jobs"
            " WHERE plugin = 'runner' AND created_at >= ? AND status = 'succeeded'",
            (since,),
        ).fetchone()
    n, first, last = row
    if not n:
        return 0, 0.0
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ"
    wall = (datetime.strptime(last, fmt) - datetime.strptime(first, fmt)).total_seconds()
    return n, wall


async def dispatch_run(port: int, db_path: Path, jobs: int, cookie: str, tabs: int) -> tuple[float, int, int]:
    """jobs/s of `jobs` trivial jobs, with `tabs` simulated dashboards open meanwhile."""
    stop = asyncio.Event()
    open_tabs = [Tab(port, cookie, TABS[i % len(TABS)]) for i in range(tabs)]
    tab_tasks = [asyncio.create_task(t.run(stop)) for t in open_tabs]
    await asyncio.sleep(1.0 if tabs else 0)  # pages loaded and streams open before the jobs
    since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60
    ) as client:
        for _ in range(jobs):
            r = await client.post("/plugin/runner/poll", json={"payload": {}})
            assert r.status_code == 202, r.text
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        n, wall = await asyncio.to_thread(finished_window, db_path, since)
        if n >= jobs:
            break
        await asyncio.sleep(0.25)
    else:
        raise RuntimeError(f"only {n} of {jobs} jobs finished in 600 s")
    stop.set()
    await asyncio.gather(*tab_tasks)
    return jobs / wall, sum(t.events for t in open_tabs), sum(t.fetches for t in open_tabs)


def load_average() -> float:
    return os.getloadavg()[0]


# -- main -----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=1_000_000, help="seeded job history (default 1M)")
    parser.add_argument("--samples", type=int, default=200, help="requests per page for p50/p99")
    parser.add_argument("--dispatch-jobs", type=int, default=300)
    parser.add_argument("--pairs", type=int, default=3, help="paired dispatch runs (none / 5 dashboards)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--workdir", help="keep the database here (default: a temp dir, removed)")
    args = parser.parse_args()
    if args.quick:
        args.jobs, args.samples, args.dispatch_jobs, args.pairs = 20_000, 30, 60, 1
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="ductile-bench-ui-"))
    workdir.mkdir(parents=True, exist_ok=True)
    db_path = workdir / "ductile.db"
    proc = None
    try:
        t0 = time.perf_counter()
        if not db_path.exists():
            build(db_path, args.jobs)
        print(
            f"history: {args.jobs:,} jobs ({time.perf_counter() - t0:.0f} s to build), "
            f"{len(PLUGINS) * SCHEDULES_PER_PLUGIN} schedules; load average {load_average():.2f}",
            flush=True,
        )
        port = free_port()
        write_config(workdir, db_path, port)
        proc = start_gateway(workdir, port)
        cookie = sign_in(f"http://127.0.0.1:{port}")
        asyncio.run(measure(port, db_path, cookie, args))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(30)
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)


async def measure(port: int, db_path: Path, cookie: str, args: argparse.Namespace) -> None:
    print(f"\n## Time to first render ({args.samples} sequential requests each, one keep-alive connection)")
    print("| request | p50 ms | p99 ms | target p50 | bytes |\n|---|---:|---:|---:|---:|")
    h50, h99, _, body = await latency(port, "/healthz", args.samples, None)
    print(f"| `GET /healthz` | {h50:.2f} | {h99:.2f} | | {len(body):,} |", flush=True)
    for name, path, target in PAGES:
        p50, p99, status, body = await latency(port, path, args.samples, cookie)
        if status != 200:
            print(f"| `GET {path}` ({name}) | answered {status}: skipped | | | |", flush=True)
            continue
        verdict = "ok" if p50 <= target else "MISSED"
        print(
            f"| `GET {path}` ({name}) | {p50:.2f} | {p99:.2f} | ≤ {target:.0f} ({verdict}) | {len(body):,} |",
            flush=True,
        )
    print(
        f"\n## Dispatch with 5 dashboards open vs none ({args.dispatch_jobs} jobs a run, trivial sh plugin, 2 workers)"
    )
    print("| pair | load avg | none jobs/s | 5 dashboards jobs/s | ratio | events seen | fragment fetches |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    ratios = []
    for pair in range(args.pairs):
        order = (0, 5) if pair % 2 == 0 else (5, 0)
        rates: dict[int, tuple[float, int, int]] = {}
        for tabs in order:
            rates[tabs] = await dispatch_run(port, db_path, args.dispatch_jobs, cookie, tabs)
        ratio = rates[5][0] / rates[0][0]
        ratios.append(ratio)
        print(
            f"| {pair + 1} | {load_average():.2f} | {rates[0][0]:.1f} | {rates[5][0]:.1f} | {ratio:.3f} "
            f"| {rates[5][1]:,} | {rates[5][2]:,} |",
            flush=True,
        )
    median = statistics.median(ratios)
    print(f"\nmedian ratio (5 dashboards / none): {median:.3f} (target ≥ 0.90: {'ok' if median >= 0.9 else 'MISSED'})")


if __name__ == "__main__":
    main()
