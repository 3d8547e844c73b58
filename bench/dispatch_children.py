"""The throughput and latency children of `bench/dispatch.py` (each runs in a fresh process).

* `raw`: the limit — the plugin spawned by `subprocess.run` (own session, allowlisted env, the
  request on stdin, stdout/stderr captured) from `workers` threads, nothing else.
* `gateway`: the real gateway (`Gateway(prepare(config))`, API on loopback, JSON logging to a
  file) measured from a full queue: `workers` "hold" jobs occupy every worker (each waits for a
  file to appear), the N jobs are enqueued over `POST /plugin/<name>/poll`, then the file is
  created and the workers run the queue dry. Wall time = last `completed_at` - first
  `started_at` of the N jobs (database stamps); CPU = the process's user+sys time from the release
  until the queue is empty, ÷ N.
* `latency`: an idle gateway; jobs enqueued over the API one at a time (each after the previous
  one finished); enqueue→running = `started_at` - `created_at` of each job (database stamps).

Both gateway children import `ductile` from PYTHONPATH when the parent sets it (`--before-src`), so
a baseline checkout can run beside the current code in the same run.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import yaml

TOKEN = "bench-token-0123456789"

HOLD_PLUGIN = """\
#!/usr/bin/env bash
# Holds a worker until the benchmark creates the release file.
read -r _request
while [ ! -e {release} ]; do sleep 0.02; done
printf '%s\\n' '{{"status":"ok","result":"released"}}'
"""


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def vm_hwm_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def request_bytes(entry: Path, workdir: str) -> bytes:
    """A request of the shape the gateway sends (same fields, same size class)."""
    return (
        json.dumps(
            {
                "protocol": 2,
                "job_id": "00000000-0000-4000-8000-000000000000",
                "command": "poll",
                "config": {},
                "state": {},
                "context": {"ductile_plugin": entry.parent.name},
                "instance": entry.parent.name,
                "workspace_dir": str(Path(workdir) / "workspace"),
                "deadline_at": "2030-01-01T00:00:00.000000Z",
            },
            separators=(",", ":"),
        ).encode()
        + b"\n"
    )


def child_raw(spec: dict[str, Any]) -> dict[str, Any]:
    """`subprocess.run` of the entrypoint from `workers` threads, `jobs` times in all."""
    from ductile.executor import plugin_env

    entry = Path(spec["entry"])
    env = plugin_env([])
    request = request_bytes(entry, spec["workdir"])
    remaining = [spec["jobs"]]
    failures = [0]
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                if remaining[0] <= 0:
                    return
                remaining[0] -= 1
            proc = subprocess.run(
                [str(entry)], input=request, capture_output=True, cwd=str(entry.parent), env=env, start_new_session=True
            )
            if proc.returncode != 0 or json.loads(proc.stdout)["status"] != "ok":
                with lock:
                    failures[0] += 1

    cpu = cpu_seconds()
    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(spec["workers"])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "jobs": spec["jobs"],
        "failures": failures[0],
        "cpu_s": cpu_seconds() - cpu,
        "vm_hwm_kb": vm_hwm_kb(),
    }


def write_gateway_config(directory: Path, plugin_root: Path, instance: str, workers: int, port: int) -> Path:
    """A gateway config with the API on `port`, the measured instance and a `hold` instance."""
    hold_root = directory / "hold-plugins"
    hold = hold_root / "hold"
    hold.mkdir(parents=True)
    manifest = {
        "manifest_spec": "ductile.plugin",
        "manifest_version": 1,
        "name": "hold",
        "version": "1.0.0",
        "protocol": 2,
        "entrypoint": "run",
        "commands": [{"name": "poll", "type": "read"}],
    }
    (hold / "manifest.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    (hold / "run").write_text(HOLD_PLUGIN.format(release=directory / "release"))
    (hold / "run").chmod(0o755)
    config: dict[str, Any] = {
        "service": {"log_format": "json", "log_level": "info", "max_workers": workers},
        "database": {"path": "./data/ductile.db"},
        "plugin_roots": [str(plugin_root), str(hold_root)],
        "plugins": {
            instance: {"parallelism": workers, "timeouts": {"poll": "60s"}},
            "hold": {"parallelism": workers, "timeouts": {"poll": "120s"}},
        },
        "api": {
            "enabled": True,
            "listen": f"127.0.0.1:{port}",
            "auth": {"tokens": [{"name": "bench", "token": TOKEN, "scopes": ["*"]}]},
        },
    }
    (directory / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return directory


async def _post_jobs(port: int, path: str, count: int, connections: int = 8) -> None:
    import httpx

    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60.0
    ) as http:
        left = [count]

        async def one_connection() -> None:
            while left[0] > 0:
                left[0] -= 1
                response = await http.post(path, json={"payload": {}})
                response.raise_for_status()

        await asyncio.gather(*(one_connection() for _ in range(connections)))


def _start_gateway(config: str) -> Any:
    from ductile import logs
    from ductile.gateway import Gateway, prepare

    setup = prepare(config)
    service = setup.loaded.config.service
    logs.setup(service.log_level, service.log_format)  # as `ductile system start` does
    gateway = Gateway(setup)
    gateway.open()
    return gateway


def child_gateway(spec: dict[str, Any]) -> dict[str, Any]:
    """The real gateway, measured from a full queue (see the module docstring)."""
    from ductile.timeutil import from_text

    directory = Path(spec["config"])
    gateway = _start_gateway(spec["config"])
    jobs, instance, workers = spec["jobs"], spec["instance"], spec["workers"]

    async def main() -> dict[str, Any]:
        ready = asyncio.Event()
        running = asyncio.create_task(gateway.run(ready=ready))
        await ready.wait()
        store = gateway.store
        await _post_jobs(spec["port"], "/plugin/hold/poll", workers, connections=1)
        while store.status_counts()["running"] < workers:
            await asyncio.sleep(0.02)
        await _post_jobs(spec["port"], f"/plugin/{instance}/poll", jobs)
        counts = store.status_counts()
        assert counts["queued"] == jobs, counts
        await asyncio.sleep(0.5)  # let the API's last responses and logs settle
        cpu = cpu_seconds()
        (directory / "release").touch()
        while True:
            counts = store.status_counts()
            if counts["queued"] == 0 and counts["running"] == 0:
                break
            await asyncio.sleep(0.1)
        cpu = cpu_seconds() - cpu
        row = store._read(  # type: ignore[attr-defined]
            "SELECT min(started_at), max(completed_at), sum(status = 'succeeded') FROM jobs WHERE plugin = ?",
            (instance,),
        )[0]
        gateway.stop_event.set()
        await running
        first, last, succeeded = row[0], row[1], row[2]
        return {
            "seconds": (from_text(last) - from_text(first)).total_seconds(),
            "jobs": jobs,
            "failures": jobs - succeeded,
            "cpu_s": cpu,
        }

    result = asyncio.run(main())
    result["vm_hwm_kb"] = vm_hwm_kb()
    return result


def child_latency(spec: dict[str, Any]) -> dict[str, Any]:
    """Idle gateway: one job at a time over the API; started_at - created_at of each."""
    from ductile.timeutil import from_text

    gateway = _start_gateway(spec["config"])
    instance = spec["instance"]

    async def main() -> list[float]:
        import httpx

        ready = asyncio.Event()
        running = asyncio.create_task(gateway.run(ready=ready))
        await ready.wait()
        store = gateway.store
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{spec['port']}", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60.0
        ) as http:
            for _ in range(spec["jobs"]):
                response = await http.post(f"/plugin/{instance}/poll", json={"payload": {}})
                response.raise_for_status()
                while True:
                    counts = store.status_counts()
                    if counts["queued"] == 0 and counts["running"] == 0:
                        break
                    await asyncio.sleep(0.005)
                await asyncio.sleep(0.02)  # idle between jobs
        rows = store._read(  # type: ignore[attr-defined]
            "SELECT created_at, started_at FROM jobs WHERE plugin = ?", (instance,)
        )
        gateway.stop_event.set()
        await running
        return [(from_text(s) - from_text(c)).total_seconds() * 1000 for c, s in rows]

    return {"latency_ms": asyncio.run(main())}


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"
