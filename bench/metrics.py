"""What Prometheus metrics cost: dispatch throughput with `api.metrics` on vs off, paired in one
run, and `GET /metrics` latency on a gateway with 100 plugins x 3 commands, beside `/healthz`.

    .venv/bin/python bench/metrics.py            # 6 pairs of 1,000 jobs; 300-series scrape
    .venv/bin/python bench/metrics.py --quick    # 1 pair of 300 jobs
    .venv/bin/python bench/metrics.py --pairs 8 --jobs 600 --no-scrape

Each side runs the real gateway (`Gateway(prepare(config))`, API enabled on a free port) in a
fresh child process; jobs of the trivial bash plugin from bench/dispatch.py are enqueued through
`Gateway.enqueue` (which publishes `job.queued`, so the hub tap runs for every job as in
production); wall time = last `completed_at` - first `created_at` from the database. Pairs
alternate which side goes first so drift on a shared machine hits both alike; the verdict is the
median over pairs of on/off, for throughput and for the gateway process's CPU per job (steadier:
it does not count the plugin processes or the machine's other tenants). One more metrics-on child
times the tap *in situ* (every call of it, during the real dispatch) as a share of that child's CPU:
what the metrics actually add to the hot path, whatever the pairs' noise. Target (issue 13):
metrics cost < 3 % of dispatch throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parent))
import dispatch as common  # noqa: E402  (bench/dispatch.py: the plugin and config writers)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_config(directory: Path, plugin_root: Path, plugins: dict[str, Any], *, metrics: bool, workers: int) -> str:
    import yaml

    directory.mkdir(parents=True)
    config = {
        "service": {"log_format": "json", "log_level": "warning", "max_workers": workers},
        "database": {"path": "./data/ductile.db"},
        "plugin_roots": [str(plugin_root)],
        "plugins": plugins,
        "api": {
            "enabled": True,
            "listen": f"127.0.0.1:{free_port()}",
            "metrics": {"enabled": metrics},
            "auth": {"tokens": [{"name": "bench", "token": "bench-token-0123456789abcdef", "scopes": ["*"]}]},
        },
    }
    (directory / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return str(directory)


def child_throughput(spec: dict[str, Any]) -> dict[str, Any]:
    from ductile import logs
    from ductile.gateway import Gateway, prepare
    from ductile.timeutil import from_text

    setup = prepare(spec["config"])
    logs.setup("warning", "json")
    gateway = Gateway(setup)
    gateway.open()
    in_tap = [0.0, 0.0]  # CPU seconds: around the tap, around an empty call timed the same way
    if spec.get("time_tap") and gateway.hub.taps:
        # In situ: the tap's own CPU time, in the real dispatch. CPU (thread_time), not wall: on
        # a busy machine a wall clock also counts the time the OS gave the core to someone else.
        # Each event also times an empty call the same way, right before; the tap's cost is the
        # difference, so the clock reads' own cost (a syscall each) cancels out.
        tap = gateway.hub.taps[0]

        def nothing(event: Any) -> None:
            return None

        def timed_tap(event: Any, _tap: Any = tap, _clock: Any = time.thread_time) -> None:
            t0 = _clock()
            nothing(event)
            t1 = _clock()
            _tap(event)
            t2 = _clock()
            in_tap[0] += t2 - t1
            in_tap[1] += t1 - t0

        gateway.hub.taps[:] = [timed_tap]

    async def main() -> dict[str, Any]:
        ready = asyncio.Event()
        running = asyncio.create_task(gateway.run(ready=ready))
        await ready.wait()
        assert gateway.store is not None
        cpu = time.process_time()
        for i in range(spec["jobs"]):
            gateway.enqueue("benchsh", "poll", submitted_by="bench")
            if i % 50 == 49:
                await asyncio.sleep(0)
        while True:
            counts = gateway.store.status_counts()
            if counts["queued"] == 0 and counts["running"] == 0:
                break
            await asyncio.sleep(0.05)
        cpu = time.process_time() - cpu
        row = gateway.store._read("SELECT min(created_at), max(completed_at), sum(status = 'succeeded') FROM jobs")[0]  # type: ignore[attr-defined]
        assert gateway.stop_event is not None
        gateway.stop_event.set()
        await running
        seconds = (from_text(row[1]) - from_text(row[0])).total_seconds()
        return {
            "jobs_per_s": spec["jobs"] / seconds,
            "cpu_ms_per_job": cpu * 1000 / spec["jobs"],
            "tap_us_per_job": (in_tap[0] - in_tap[1]) * 1e6 / spec["jobs"],
            "ok": row[2],
            "wall_s": seconds,
            "hwm_mb": common.vm_hwm_kb() / 1024,
        }

    return asyncio.run(main())


def run_child(kind: str, spec: dict[str, Any], log: Path) -> dict[str, Any]:
    with open(log, "ab") as err:
        proc = subprocess.run(
            [sys.executable, str(HERE), "--child", kind, json.dumps(spec)], stdout=subprocess.PIPE, stderr=err
        )
    if proc.returncode != 0:
        raise SystemExit(f"{kind} child failed; see {log}")
    return json.loads(proc.stdout.decode().strip().splitlines()[-1])


def scrape_latency(work: Path, root: Path, log: Path, requests: int) -> dict[str, Any]:
    """A real `ductile system start` with 100 instances x 3 commands, one job of each done, then
    sequential GET /metrics and GET /healthz, interleaved."""
    import httpx
    import yaml

    manifest = yaml.safe_load((root / "benchsh" / "manifest.yaml").read_text())
    manifest["commands"] = [{"name": c, "type": "read"} for c in ("poll", "sync", "check")]
    (root / "benchsh" / "manifest.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    plugins = {f"p{i:03d}": {"uses": "benchsh"} for i in range(100)}
    directory = write_config(work / "scrape", root, plugins, metrics=True, workers=2)
    port = yaml.safe_load(Path(directory, "config.yaml").read_text())["api"]["listen"].rsplit(":", 1)[1]
    url, headers = f"http://127.0.0.1:{port}", {"Authorization": "Bearer bench-token-0123456789abcdef"}
    ductile = Path(sys.executable).parent / "ductile"
    with open(log, "ab") as err:
        proc = subprocess.Popen([str(ductile), "system", "start", "--config", directory], stdout=err, stderr=err)
    try:
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            for name in plugins:
                for command in ("poll", "sync", "check"):
                    assert client.post(f"/plugin/{name}/{command}", json={}).status_code == 202
            while client.get("/healthz").json()["queue_depth"]:
                time.sleep(0.2)
            body = client.get("/metrics").text
            series = sum(1 for line in body.splitlines() if line and not line.startswith("#"))
            timings: dict[str, list[float]] = {"/metrics": [], "/healthz": []}
            for _ in range(requests):
                for path in timings:
                    t = time.perf_counter()
                    response = client.get(path)
                    timings[path].append((time.perf_counter() - t) * 1000)
                    assert response.status_code == 200
    finally:
        proc.terminate()
        proc.wait(60)
    out: dict[str, Any] = {"series": series, "bytes": len(body)}
    for path, values in timings.items():
        ordered = sorted(values)
        out[path] = {"p50_ms": statistics.median(ordered), "p99_ms": ordered[int(len(ordered) * 0.99) - 1]}
    return out


def tap_cost_us(jobs: int = 100_000) -> tuple[float, float]:
    """Microseconds per job of publishing a job's four hub events without and with the metrics
    tap, in this process: the metrics' whole share of the dispatch hot path, free of the noise
    that whole-gateway runs on a shared machine carry."""
    from types import SimpleNamespace

    from ductile.events import EventHub
    from ductile.metrics import GatewayMetrics

    hub = EventHub()
    metrics = GatewayMetrics(SimpleNamespace(hub=hub))  # type: ignore[arg-type]
    data = {
        "job_id": "j",
        "plugin": "benchsh",
        "command": "poll",
        "status": "succeeded",
        "attempt": 1,
        "submitted_by": "bench",
        "duration_ms": 5.0,
    }
    out = []
    for tap in (False, True):
        hub.taps[:] = [metrics.observe] if tap else []
        t = time.perf_counter()
        for _ in range(jobs):
            for kind in ("job.queued", "job.started", "job.succeeded", "job.completed"):
                hub.publish(kind, data)
        out.append((time.perf_counter() - t) / jobs * 1e6)
    return out[0], out[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", nargs=2)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--pairs", type=int, default=6)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--no-scrape", action="store_true", help="skip the /metrics latency part")
    args = parser.parse_args()
    if args.child:
        kind, spec = args.child
        print(json.dumps({"throughput": child_throughput}[kind](json.loads(spec))))
        return
    pairs, jobs = (1, 300) if args.quick else (args.pairs, args.jobs)
    with tempfile.TemporaryDirectory(prefix="ductile-bench-metrics-") as tmp:
        work = Path(tmp)
        root = work / "plugins"
        common.write_plugins(root)
        log = work / "children.log"
        print(f"load average before: {os.getloadavg()[0]:.2f}; {pairs} pair(s) of {jobs} jobs, 2 workers")
        ratios, cpu_ratios, rows = [], [], []
        for i in range(pairs):
            results = {}
            order = (True, False) if i % 2 == 0 else (False, True)
            for metrics in order:
                config = write_config(work / f"t{i}-{metrics}", root, {"benchsh": {}}, metrics=metrics, workers=2)
                results[metrics] = run_child("throughput", {"config": config, "jobs": jobs}, log)
                assert results[metrics]["ok"] == jobs, results
            ratio = results[True]["jobs_per_s"] / results[False]["jobs_per_s"]
            cpu_ratio = results[True]["cpu_ms_per_job"] / results[False]["cpu_ms_per_job"]
            ratios.append(ratio)
            cpu_ratios.append(cpu_ratio)
            rows.append(results)
            print(
                f"pair {i + 1} ({'on first' if order[0] else 'off first'}): "
                f"off {results[False]['jobs_per_s']:.0f} jobs/s, {results[False]['cpu_ms_per_job']:.3f} ms CPU/job | "
                f"on {results[True]['jobs_per_s']:.0f} jobs/s, {results[True]['cpu_ms_per_job']:.3f} ms CPU/job | "
                f"on/off throughput {ratio:.3f}, CPU/job {cpu_ratio:.3f}",
                flush=True,
            )
        median = statistics.median(ratios)
        cpu_median = statistics.median(cpu_ratios)
        config = write_config(work / "in-situ", root, {"benchsh": {}}, metrics=True, workers=2)
        situ = run_child("throughput", {"config": config, "jobs": jobs, "time_tap": True}, log)
        bare, tapped = tap_cost_us()
        cpu_job = statistics.median(r[False]["cpu_ms_per_job"] for r in rows) * 1000
        print(
            f"hub events per job (isolated): {bare:.1f} µs without the metrics tap, {tapped:.1f} µs with it: "
            f"+{tapped - bare:.1f} µs = {100 * (tapped - bare) / cpu_job:.2f} % of the gateway's {cpu_job:.0f} µs CPU per job"
        )
        print(
            f"tap in situ (metrics-on child): {situ['tap_us_per_job']:.1f} µs per job = "
            f"{100 * situ['tap_us_per_job'] / (situ['cpu_ms_per_job'] * 1000):.2f} % of its "
            f"{situ['cpu_ms_per_job'] * 1000:.0f} µs CPU per job"
        )
        print(
            f"median on/off over {pairs} pairs: throughput {median:.3f} (cost {100 * (1 - median):+.1f} %; "
            f"range {min(ratios):.3f}..{max(ratios):.3f}); gateway CPU per job {cpu_median:.3f} "
            f"(cost {100 * (cpu_median - 1):+.1f} %; range {min(cpu_ratios):.3f}..{max(cpu_ratios):.3f}); target < 3 %"
        )
        if args.no_scrape:
            print(f"load average after: {os.getloadavg()[0]:.2f}")
            return
        scrape = scrape_latency(work, root, log, 50 if args.quick else 200)
        print(
            f"GET /metrics with 100 plugins x 3 commands: {scrape['series']} series, {scrape['bytes']} bytes; "
            f"p50 {scrape['/metrics']['p50_ms']:.2f} ms, p99 {scrape['/metrics']['p99_ms']:.2f} ms | "
            f"GET /healthz p50 {scrape['/healthz']['p50_ms']:.2f} ms, p99 {scrape['/healthz']['p99_ms']:.2f} ms"
        )
        print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
