"""Monitor / events benchmark: does streaming /events to clients slow the dispatcher?

    .venv/bin/python bench/monitor_events.py              # 5,000 jobs per run, 0 vs 5 clients
    .venv/bin/python bench/monitor_events.py --jobs 1000  # quicker

Each run starts a fresh real gateway (`ductile system start`, API on loopback, a trivial bash
plugin, max_workers 4) and enqueues N jobs over `POST /plugin/bench/poll` from 8 concurrent
connections. Throughput = N / (last `completed_at` - first `created_at`), read from the database.
The "5 clients" run keeps 4 raw SSE readers (one child process) plus one headless `MonitorApp`
(another child process) connected to `/events` the whole time; the monitor reports its own CPU
seconds. Runs alternate (0, 5, 0, 5, ...) so machine noise hits both sides alike.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import yaml

VENV_BIN = Path(sys.executable).parent
TOKEN = "bench-token-0123456789"
PLUGIN = """\
#!/usr/bin/env bash
read -r _request
printf '%s\\n' '{"status":"ok","result":"done"}'
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _setup(root: Path) -> tuple[Path, int]:
    plugin = root / "plugins" / "bench"
    plugin.mkdir(parents=True)
    (plugin / "manifest.yaml").write_text(
        yaml.safe_dump(
            {
                "manifest_spec": "ductile.plugin",
                "manifest_version": 1,
                "name": "bench",
                "version": "1.0.0",
                "protocol": 2,
                "entrypoint": "run",
                "concurrency_safe": True,
                "commands": [{"name": "poll", "type": "read"}],
            }
        )
    )
    (plugin / "run").write_text(PLUGIN)
    (plugin / "run").chmod(0o755)
    port = _free_port()
    config = {
        "service": {"log_format": "json", "log_level": "warning", "max_workers": 4},
        "database": {"path": "./data/ductile.db"},
        "plugin_roots": [str(root / "plugins")],
        "plugins": {"bench": {}},
        "api": {
            "enabled": True,
            "listen": f"127.0.0.1:{port}",
            "auth": {"tokens": [{"name": "bench", "token": TOKEN, "scopes": ["*"]}]},
        },
    }
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    return root, port


async def _enqueue(url: str, count: int) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as http:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for n in range(count):
            queue.put_nowait(n)

        async def worker() -> None:
            while not queue.empty():
                queue.get_nowait()
                response = await http.post("/plugin/bench/poll", json={"payload": {}})
                response.raise_for_status()

        await asyncio.gather(*(worker() for _ in range(8)))


def _wait_done(db: Path, count: int, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with sqlite3.connect(db) as conn:
            done, first, last = conn.execute(
                "SELECT count(*), min(created_at), max(completed_at) FROM jobs WHERE status = 'succeeded'"
            ).fetchone()
        if done >= count:
            wall = (datetime.fromisoformat(last) - datetime.fromisoformat(first)).total_seconds()
            return {"jobs": done, "wall_s": wall, "jobs_per_s": done / wall}
        time.sleep(0.2)
    raise SystemExit(f"only {done}/{count} jobs done after {timeout}s")


def one_run(jobs: int, clients: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="ductile-bench-events-") as tmp:
        root, port = _setup(Path(tmp))
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
        log = open(root / "gateway.log", "wb")  # noqa: SIM115
        gw = subprocess.Popen(
            [str(VENV_BIN / "ductile"), "system", "start", "--config", str(root)], stdout=log, stderr=log, env=env
        )
        children: list[subprocess.Popen[bytes]] = []
        try:
            for _ in range(200):
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            if clients:
                me = [sys.executable, __file__]
                children.append(subprocess.Popen([*me, "--child-sse", url, str(clients - 1)], stdout=subprocess.PIPE))
                children.append(subprocess.Popen([*me, "--child-monitor", url], stdout=subprocess.PIPE))
                time.sleep(2.0)  # let them connect
            cpu0 = _cpu(gw.pid)
            start = time.monotonic()
            asyncio.run(_enqueue(url, jobs))
            result = _wait_done(root / "data" / "ductile.db", jobs, timeout=600)
            result["gateway_cpu_s"] = _cpu(gw.pid) - cpu0
            result["elapsed_s"] = time.monotonic() - start
            result["clients"] = clients
            time.sleep(1.0)  # let the last events reach the clients
            for child in children:
                child.send_signal(signal.SIGTERM)
                out, _ = child.communicate(timeout=30)
                result.update(json.loads(out.decode().strip().splitlines()[-1]))
        finally:
            for child in children:
                if child.poll() is None:
                    child.kill()
            gw.send_signal(signal.SIGTERM)
            gw.wait(30)
            log.close()
    return result


def child_sse(url: str, count: int) -> None:
    """`count` raw SSE readers in one process; on SIGTERM print how many events they saw."""
    from ductile.monitor.client import MonitorClient

    seen = [0] * count

    async def reader(i: int) -> None:
        client = MonitorClient(url, TOKEN)
        async for _event in client.events():
            seen[i] += 1

    async def main() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        tasks = [asyncio.create_task(reader(i)) for i in range(count)]
        await stop.wait()
        for task in tasks:
            task.cancel()

    asyncio.run(main())
    print(json.dumps({"sse_readers": count, "events_per_reader": seen}))


def child_monitor(url: str) -> None:
    """A headless MonitorApp connected live; on SIGTERM print its CPU seconds and rows seen."""
    from ductile.monitor.app import MonitorApp
    from ductile.monitor.client import MonitorClient

    app = MonitorApp(MonitorClient(url, TOKEN))
    stats: dict[str, Any] = {}

    async def main() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            stop = asyncio.Event()
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
            t0, c0 = time.monotonic(), time.process_time()
            await stop.wait()
            await pilot.pause()
            wall, cpu = time.monotonic() - t0, time.process_time() - c0
            stats.update(
                monitor_cpu_s=round(cpu, 2),
                monitor_wall_s=round(wall, 2),
                monitor_cpu_pct=round(100 * cpu / wall, 1),
                monitor_state=app.connection,
                monitor_jobs_cached=len(app.book.jobs),
            )

    asyncio.run(main())
    print(json.dumps(stats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--child-sse", nargs=2, metavar=("URL", "N"))
    parser.add_argument("--child-monitor", metavar="URL")
    args = parser.parse_args()
    if args.child_sse:
        return child_sse(args.child_sse[0], int(args.child_sse[1]))
    if args.child_monitor:
        return child_monitor(args.child_monitor)
    runs: dict[int, list[dict[str, Any]]] = {0: [], args.clients: []}
    for _ in range(args.repeats):
        for clients in (0, args.clients):
            result = one_run(args.jobs, clients)
            runs[clients].append(result)
            print(json.dumps(result), flush=True)
    base = statistics.median(r["jobs_per_s"] for r in runs[0])
    loaded = statistics.median(r["jobs_per_s"] for r in runs[args.clients])
    print(f"\ncpus={os.cpu_count()} jobs={args.jobs} repeats={args.repeats}")
    print(f"0 clients: median {base:.1f} jobs/s")
    print(f"{args.clients} clients: median {loaded:.1f} jobs/s  ({100 * (loaded / base - 1):+.1f}%)")
    mon = [r for r in runs[args.clients] if "monitor_cpu_s" in r]
    if mon:
        print(
            "monitor: "
            + ", ".join(f"{r['monitor_cpu_s']}s CPU over {r['monitor_wall_s']}s ({r['monitor_cpu_pct']}%)" for r in mon)
        )


if __name__ == "__main__":
    main()
