"""Dispatch benchmark: the real gateway against the raw spawn limit, side by side in one run.

    .venv/bin/python bench/dispatch.py             # everything (throughput, latency, interpreters, lateness, RSS)
    .venv/bin/python bench/dispatch.py --quick     # smaller counts, one repeat, short lateness run
    .venv/bin/python bench/dispatch.py --only throughput,latency --before-src /tmp/before/src
                                                   # paired before/after against another checkout's src/

What it measures (numbers go to docs/BENCHMARKS.md, "Dispatch"; children in dispatch_children.py):

* Throughput, for `--workers` (default 1, 2, 4) and a trivial bash and Python plugin. `raw`: the
  same entrypoint spawned by `subprocess.run` from as many threads as max_workers (own session,
  the gateway's env, a request of the gateway's shape). `gateway`: the real gateway
  (`Gateway(prepare(config))`, API on, JSON logging to a file) measured from a full queue — every
  worker held by a job waiting on a file, N jobs enqueued over `POST /plugin/<name>/poll`, then
  the file created; wall = last `completed_at` - first `started_at` from the database; CPU/job =
  the gateway process's CPU from the release to the empty queue ÷ N. `before` (with
  `--before-src`): the same gateway child importing ductile from that directory. Each side runs
  in a fresh child process, back to back, order rotated between repeats; the 1-minute load
  average is printed beside every pair. Ratio = gateway jobs/s ÷ raw jobs/s of the same pair.
* Enqueue→running latency on an idle gateway: jobs posted over the API one at a time;
  `started_at` - `created_at` of each.
* Interpreter resolution: where each plugin's `#!/usr/bin/env …` shebang lands with the
  virtualenv's bin first on PATH (as `make run` does) and with the inherited PATH, and what a
  start costs through each (a version-manager shim costs ~100 ms a start).
* Peak RSS (VmHWM) of every gateway child, including those with the HTTP API enabled, and of a
  real `ductile system start` over a database already holding 200,000 finished jobs, after a
  round of GET /jobs queries (`--rss-history N`; 0 skips it).
* Scheduler firing lateness: a gateway with 20 instances on `every: 1s` for ~25 s. For every fire
  the benchmark listens on the gateway's event hub for `scheduler.fired` (which carries `due_at`,
  the slot's planned fire time) and takes lateness = the job's `created_at` in the database -
  `due_at`, and also = the moment the event was published (after the enqueue committed) -
  `due_at`, which additionally counts the enqueue itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from dispatch_children import (
    child_gateway,
    child_latency,
    child_raw,
    cpu_seconds,
    free_port,
    load_average,
    vm_hwm_kb,
    write_gateway_config,
)

HERE = Path(__file__).resolve()
VENV_BIN = Path(sys.executable).parent
BENCH_PATH = f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"  # what `make run` does

BASH_PLUGIN = """\
#!/usr/bin/env bash
# Trivial protocol-v2 plugin: read the one-line request, answer ok.
read -r _request
printf '%s\\n' '{"status":"ok","result":"done"}'
"""

PYTHON_PLUGIN = """\
#!/usr/bin/env python3
# Trivial protocol-v2 plugin: parse the request, answer ok.
import json
import sys

request = json.loads(sys.stdin.readline())
print(json.dumps({"status": "ok", "result": "done " + request["command"]}))
"""

# The bash plugin with a 15 ms pause before it answers: the gateway idles between jobs as with
# the Python plugin, while the child itself touches little memory (`bench/cpu_ab.py`, PLUGIN=).
IDLE_PLUGIN = """\
#!/usr/bin/env bash
read -r _request
sleep 0.015
printf '%s\\n' '{"status":"ok","result":"done"}'
"""

PLUGINS = {"benchsh": BASH_PLUGIN, "benchpy": PYTHON_PLUGIN, "benchidle": IDLE_PLUGIN}


# -- setup --------------------------------------------------------------------------------------
def write_plugins(root: Path) -> dict[str, Path]:
    out = {}
    for name, script in PLUGINS.items():
        directory = root / name
        directory.mkdir(parents=True)
        manifest = {
            "manifest_spec": "ductile.plugin",
            "manifest_version": 1,
            "name": name,
            "version": "1.0.0",
            "protocol": 2,
            "entrypoint": "run",
            "commands": [{"name": "poll", "type": "read"}],
        }
        (directory / "manifest.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
        entry = directory / "run"
        entry.write_text(script)
        entry.chmod(0o755)
        out[name] = entry
    return out


def write_config(directory: Path, plugin_root: Path, plugins: dict[str, Any], **service: Any) -> Path:
    directory.mkdir(parents=True)
    config: dict[str, Any] = {
        "service": {"log_format": "json", "log_level": "info", **service},
        "database": {"path": "./data/ductile.db"},
        "plugin_roots": [str(plugin_root)],
        "plugins": plugins,
    }
    (directory / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return directory


def resolve_shebang(entry: Path, path: str) -> dict[str, str]:
    line = entry.read_text().splitlines()[0]
    parts = line[2:].split()
    program = parts[1] if Path(parts[0]).name == "env" and len(parts) > 1 else parts[0]
    found = shutil.which(program, path=path) if "/" not in program else program
    real = os.path.realpath(found) if found else "not found"
    return {"shebang": line, "resolves_to": found or "not found", "realpath": real}


def start_cost_ms(program: str, path: str, runs: int = 15) -> float:
    """Median wall time of `program -c pass` (python) or `program -c :` (bash) through PATH."""
    arg = "pass" if "python" in program else ":"
    env = {"PATH": path, "HOME": os.environ.get("HOME", "/tmp")}
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run([program, "-c", arg], env=env, check=True)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


# -- children -----------------------------------------------------------------------------------
_cpu_seconds = cpu_seconds
_vm_hwm_kb = vm_hwm_kb


def child_lateness(spec: dict[str, Any]) -> dict[str, Any]:
    """Run the real gateway (API on) with `every: 1s` schedules; record each fire's lateness."""
    from ductile import logs
    from ductile.gateway import Gateway, prepare
    from ductile.timeutil import from_text

    setup = prepare(spec["config"])
    service = setup.loaded.config.service
    logs.setup(service.log_level, service.log_format)
    gateway = Gateway(setup)
    gateway.open()
    fired: list[tuple[str, str, float]] = []  # (job_id, due_at, published at as unix time)
    seen = {"skipped": 0, "lagged": 0, "flood_done": 0}

    async def main() -> None:
        sub = gateway.hub.subscribe()

        async def listen() -> None:
            while True:
                event = await sub.get()
                if event.type == "scheduler.fired":
                    fired.append((event.data["job_id"], event.data["due_at"], event.at))
                elif event.type == "scheduler.skipped":
                    seen["skipped"] += 1
                elif event.type == "job.succeeded" and event.data["plugin"] == spec.get("flood"):
                    seen["flood_done"] += 1
                elif event.type == "stream.lagged":
                    seen["lagged"] += 1

        async def flood(instance: str) -> None:
            """Keep the dispatcher saturated: top the queue up whenever it runs low."""
            assert gateway.store is not None
            while True:
                if gateway.store.status_counts()["queued"] < 100:
                    for i in range(200):
                        gateway.enqueue(instance, "poll", submitted_by="bench")
                        if i % 50 == 49:
                            await asyncio.sleep(0)
                await asyncio.sleep(0.1)

        listener = asyncio.create_task(listen())
        ready = asyncio.Event()
        running = asyncio.create_task(gateway.run(ready=ready))
        await ready.wait()
        flooder = asyncio.create_task(flood(spec["flood"])) if spec.get("flood") else None
        await asyncio.sleep(spec["seconds"])
        if flooder is not None:
            flooder.cancel()
        assert gateway.stop_event is not None and gateway.store is not None
        created.update(
            dict(gateway.store._read("SELECT job_id, created_at FROM jobs"))  # type: ignore[attr-defined]
        )
        gateway.stop_event.set()
        await running
        listener.cancel()

    created: dict[str, str] = {}
    asyncio.run(main())
    by_db, by_event = [], []
    for job_id, due_at, published in fired:
        due = from_text(due_at)
        if job_id in created:
            by_db.append((from_text(created[job_id]) - due).total_seconds() * 1000)
        by_event.append((published - due.timestamp()) * 1000)
    return {"db_ms": by_db, "event_ms": by_event, "vm_hwm_kb": _vm_hwm_kb(), "api": gateway.api_enabled, **seen}


CHILDREN = {"raw": child_raw, "gateway": child_gateway, "latency": child_latency, "lateness": child_lateness}


def rss_with_history(work: Path, plugin_root: Path, history: int, schedules: int) -> dict[str, Any]:
    """Peak RSS of `ductile system start` (API on, schedules running) over a database that
    already holds `history` finished jobs, after a round of GET /jobs queries."""
    import socket
    from datetime import timedelta

    import httpx

    from ductile.jobs import AttemptRecord, NewJob
    from ductile.lifecycle import Decision, Status
    from ductile.store import SqliteStore

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    token = "bench-token-0123456789"
    instances = {f"tick{i:02d}": {"uses": "benchpy", "schedules": [{"every": "1s"}]} for i in range(schedules)}
    cfg = write_config(work / "rss-history", plugin_root, instances)
    config = yaml.safe_load((cfg / "config.yaml").read_text())
    config["api"] = {
        "enabled": True,
        "listen": f"127.0.0.1:{port}",
        "auth": {"tokens": [{"name": "admin", "token": token, "scopes": ["*"]}]},
    }
    (cfg / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    store = SqliteStore(cfg / "data" / "ductile.db")
    start = datetime.now(UTC) - timedelta(days=5)
    for i in range(min(history, 2000)):  # real rows through the store, then doubled in SQL
        now = start + timedelta(seconds=10 * i)
        store.enqueue(
            NewJob(plugin=f"tick{i % schedules:02d}", command="poll", submitted_by="scheduler"),
            now=now,
            dedupe_since=None,
        )
        job = store.claim(now=now)
        assert job is not None
        record = AttemptRecord("success", "-", "-", 3.0, response={"status": "ok", "result": "done"})
        store.finish(job, record, Decision(Status.SUCCEEDED), now=now)
    columns = (
        "plugin, command, payload, status, attempt, max_attempts, submitted_by, dedupe_key, created_at, "
        "started_at, completed_at, next_retry_at, last_error, parent_job_id, context"
    )
    while (count := store._read("SELECT count(*) FROM jobs")[0][0]) < history:
        with store._tx() as db:
            db.execute(
                f"INSERT INTO jobs (job_id, {columns}) SELECT lower(hex(randomblob(16))), {columns} FROM jobs LIMIT ?",
                (history - count,),
            )
    store.close()
    size_mb = (cfg / "data" / "ductile.db").stat().st_size / 1e6
    proc = subprocess.Popen(
        [str(VENV_BIN / "ductile"), "system", "start", "--config", str(cfg)],
        env=dict(os.environ, PATH=BENCH_PATH),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                httpx.get(f"{base}/healthz", timeout=1.0)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        time.sleep(3)
        after = (start + timedelta(hours=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
        for query in (
            "limit=50",
            "status=failed&limit=50",
            "plugin=tick03&limit=200",
            "command=poll&status=succeeded&limit=100",
            f"created_after={after}&limit=50",
        ):
            for _ in range(3):
                httpx.get(f"{base}/jobs?{query}", headers={"Authorization": f"Bearer {token}"}, timeout=60.0)
        time.sleep(5)
        status = Path(f"/proc/{proc.pid}/status").read_text()
        hwm = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
    finally:
        proc.terminate()
        proc.wait(30)
    return {"jobs": count, "db_mb": size_mb, "vm_hwm_kb": hwm}


def run_child(
    kind: str, spec: dict[str, Any], *, stderr_path: Path, path: str = BENCH_PATH, src: str | None = None
) -> dict[str, Any]:
    env = dict(os.environ, PATH=path)
    if src:  # import ductile from another checkout (the "before" side)
        env["PYTHONPATH"] = src
    with open(stderr_path, "ab") as err:
        proc = subprocess.run(
            [sys.executable, str(HERE), "--child", kind, json.dumps(spec)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=err,
            check=False,
        )
    if proc.returncode != 0:
        raise SystemExit(f"{kind} child failed ({proc.returncode}); see {stderr_path}")
    return json.loads(proc.stdout.decode().strip().splitlines()[-1])


# -- the run ------------------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))  # nearest rank
    return ordered[index]


def interpreters(entries: dict[str, Path]) -> tuple[dict[tuple[str, str], float], dict[str, Any]]:
    """Where each shebang resolves (benchmark PATH vs inherited PATH) and what a start costs."""
    inherited = os.environ.get("PATH", "")
    interp: dict[str, Any] = {}
    for name, entry in entries.items():
        interp[name] = {
            "bench_path": resolve_shebang(entry, BENCH_PATH),
            "inherited_path": resolve_shebang(entry, inherited),
        }
    costs = {}
    for name, prog in {"benchsh": "bash", "benchpy": "python3"}.items():
        for label, path in (("bench_path", BENCH_PATH), ("inherited_path", inherited)):
            found = shutil.which(prog, path=path)
            if found:
                costs[(name, label)] = start_cost_ms(found, path)
                interp[name][label]["start_ms"] = round(costs[(name, label)], 1)
    print("interpreters (shebang → PATH lookup → real file, median start cost of `-c pass`):")
    for name, row in interp.items():
        for label in ("bench_path", "inherited_path"):
            r = row[label]
            print(
                f"  {name:8} {label:15} {r['shebang']:24} → {r['resolves_to']} → {r['realpath']}"
                f"  ({r.get('start_ms', '?')} ms)"
            )
    print()
    return costs, interp


def throughput(
    args: argparse.Namespace,
    work: Path,
    plugin_root: Path,
    entries: dict[str, Path],
    sides: list[tuple[str, str | None]],
    log: Path,
) -> dict[str, list[dict[str, Any]]]:
    """Paired runs: raw limit, gateway (and the `before` gateway) back to back, order rotated."""
    counts = {"benchsh": args.bash_jobs, "benchpy": args.python_jobs}
    configs = [(name, int(w)) for w in args.workers.split(",") for name in ("benchsh", "benchpy")]
    results: dict[str, list[dict[str, Any]]] = {}
    for rep in range(args.repeat):
        for name, workers in configs:
            jobs = counts[name]
            # rotate which side goes first so drift in machine load does not favour one side
            order = sides[rep % len(sides) :] + sides[: rep % len(sides)]
            row: dict[str, Any] = {"plugin": name, "workers": workers, "jobs": jobs, "load_before": load_average()}
            for side, src in order:
                if side == "raw":
                    spec = {"entry": str(entries[name]), "jobs": jobs, "workers": workers, "workdir": str(work)}
                    out = run_child("raw", spec, stderr_path=log)
                else:
                    port = free_port()
                    cfg = write_gateway_config(
                        work / f"gw-{side}-{name}-{workers}-{rep}", plugin_root, name, workers, port
                    )
                    spec = {"config": str(cfg), "jobs": jobs, "instance": name, "workers": workers, "port": port}
                    out = run_child("gateway", spec, stderr_path=log, src=src)
                row[side] = {
                    "rate": out["jobs"] / out["seconds"],
                    "cpu_ms_per_job": out["cpu_s"] * 1000 / out["jobs"],
                    "failures": out["failures"],
                    "vm_hwm_kb": out["vm_hwm_kb"],
                }
            row["load_after"] = load_average()
            for side, _ in sides[1:]:
                row[side]["ratio"] = row[side]["rate"] / row["raw"]["rate"]
            results.setdefault(f"{name}/{workers}", []).append(row)
            parts = [f"raw {row['raw']['rate']:7.1f}/s ({row['raw']['cpu_ms_per_job']:.2f} ms CPU)"]
            for side, _ in sides[1:]:
                r = row[side]
                parts.append(
                    f"{side} {r['rate']:7.1f}/s = {r['ratio']:.0%} ({r['cpu_ms_per_job']:.2f} ms CPU/job, "
                    f"failures {r['failures']})"
                )
            print(
                f"  rep {rep + 1} {name} max_workers={workers} jobs={jobs}: "
                + "; ".join(parts)
                + f"  [load {row['load_before']} → {row['load_after']}]",
                flush=True,
            )
    return results


def latency(
    args: argparse.Namespace, work: Path, plugin_root: Path, sides: list[tuple[str, str | None]], log: Path
) -> dict[str, Any]:
    """p50/p90/p99 enqueue→running on an idle gateway (bash plugin, max_workers 1)."""
    out: dict[str, Any] = {}
    for side, src in sides[1:]:
        port = free_port()
        cfg = write_gateway_config(work / f"latency-{side}", plugin_root, "benchsh", 1, port)
        load = load_average()
        values = run_child(
            "latency",
            {"config": str(cfg), "jobs": args.latency_jobs, "instance": "benchsh", "port": port},
            stderr_path=log,
            src=src,
        )["latency_ms"]
        out[side] = {q: percentile(values, q) for q in (50, 90, 99)} | {"n": len(values), "load": load}
        print(
            f"  enqueue→running, idle gateway ({side}): p50 {out[side][50]:.2f} ms  p90 {out[side][90]:.2f}  "
            f"p99 {out[side][99]:.2f}  (n={len(values)}, load {load})",
            flush=True,
        )
    return out


def print_summary(
    args: argparse.Namespace,
    report: dict[str, Any],
    results: dict[str, list[dict[str, Any]]],
    costs: dict[tuple[str, str], float],
    interp: dict[str, Any],
) -> None:
    print("\nsummary (median of paired runs; [min-max] of the ratio to raw):")
    for rows in results.values():
        head = f"  {rows[0]['plugin']:8} max_workers={rows[0]['workers']} jobs={rows[0]['jobs']}: "
        parts = [f"raw {statistics.median(r['raw']['rate'] for r in rows):.1f}/s"]
        for side in report["sides"][1:]:
            ratios = [r[side]["ratio"] for r in rows]
            parts.append(
                f"{side} {statistics.median(r[side]['rate'] for r in rows):.1f}/s "
                f"{statistics.median(ratios):.0%} [{min(ratios):.0%}-{max(ratios):.0%}] "
                f"CPU/job {statistics.median(r[side]['cpu_ms_per_job'] for r in rows):.2f} ms"
            )
        loads = ", ".join(r["load_before"].split()[0] for r in rows)
        print(head + "; ".join(parts) + f"  (1-min load at start of each pair: {loads})")
    if results:
        hwm = max(r[s]["vm_hwm_kb"] for rows in results.values() for r in rows for s in report["sides"][1:])
        print(f"\n  gateway peak RSS (VmHWM): throughput runs max {hwm / 1024:.1f} MB")
    for label, lat in report["lateness"].items():
        what = (
            "idle dispatcher" if label == "idle" else f"dispatcher saturated ({lat['flood_jobs_done']} flood jobs ran)"
        )
        print(
            f"  scheduler, {args.schedules} x every 1s for {args.lateness_seconds:g} s, API on, {what}: "
            f"{lat['fires']} fires, {lat['skipped']} skipped; lateness created_at-due p50 {lat['db'][50]:.1f} ms, "
            f"p90 {lat['db'][90]:.1f}, p99 {lat['db'][99]:.1f}, max {lat['db'][100]:.1f}; "
            f"published-due p50 {lat['event'][50]:.1f}, p99 {lat['event'][99]:.1f}, max {lat['event'][100]:.1f}; "
            f"VmHWM {lat['vm_hwm_kb'] / 1024:.1f} MB" + (f"; listener lagged {lat['lagged']}x" if lat["lagged"] else "")
        )
    if args.rss_history:
        big = report["rss_history"]
        print(
            f"  `ductile system start` (API on, {args.schedules} schedules) over {big['jobs']} jobs "
            f"({big['db_mb']:.0f} MB database) after GET /jobs queries: VmHWM {big['vm_hwm_kb'] / 1024:.1f} MB"
        )
    if interp:
        shim_cost = costs.get(("benchpy", "inherited_path"))
        venv_cost = costs.get(("benchpy", "bench_path"))
        print(
            f"  python3 via inherited PATH ({interp['benchpy']['inherited_path']['resolves_to']}): "
            f"{shim_cost or float('nan'):.1f} ms a start vs {venv_cost or float('nan'):.1f} ms via the venv"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("spec", nargs="?", help=argparse.SUPPRESS)
    parser.add_argument("--bash-jobs", type=int, default=2000)
    parser.add_argument("--python-jobs", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3, help="pairs per configuration (default 3)")
    parser.add_argument("--lateness-seconds", type=float, default=25.0)
    parser.add_argument("--schedules", type=int, default=20)
    parser.add_argument(
        "--quick", action="store_true", help="400/100 jobs, 1 repeat, 10 s lateness runs, 20k-job history"
    )
    parser.add_argument(
        "--rss-history",
        type=int,
        default=200000,
        metavar="N",
        help="also measure `ductile system start` peak RSS over a database of N finished jobs (0: skip)",
    )
    parser.add_argument("--workers", default="1,2,4", help="max_workers values to measure (default 1,2,4)")
    parser.add_argument("--latency-jobs", type=int, default=200, help="jobs for enqueue→running on an idle gateway")
    parser.add_argument(
        "--only",
        default="throughput,latency,interpreters,lateness,rss",
        help="comma-separated sections to run (default: all of throughput,latency,interpreters,lateness,rss)",
    )
    parser.add_argument(
        "--before-src",
        metavar="DIR",
        help="also run the gateway children with PYTHONPATH=DIR (a `src` of another checkout, e.g. "
        "`git archive main src | tar -x -C /tmp/before`) in every pair: a paired before/after",
    )
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(CHILDREN[args.child](json.loads(args.spec))), flush=True)
        return
    if args.quick:
        args.bash_jobs, args.python_jobs, args.repeat, args.lateness_seconds = 400, 100, 1, 10.0
        args.rss_history = min(args.rss_history, 20000)
        args.latency_jobs = 50
    sections = set(args.only.split(","))
    if "rss" not in sections:
        args.rss_history = 0

    from ductile.config_models import _default_workers

    default_workers = _default_workers()
    work = Path(tempfile.mkdtemp(prefix="ductile-bench-"))
    plugin_root = work / "plugins"
    entries = write_plugins(plugin_root)
    log = work / "children.log"
    report: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "executable": sys.executable,
        "kernel": platform.release(),
        "default_max_workers": default_workers,
    }
    print(f"ductile dispatch benchmark — {report['date']}")
    print(f"nproc={report['nproc']}  python={report['python']} ({sys.executable})  kernel={report['kernel']}")
    print(f"default max_workers = max(1, cpus-1) = {default_workers}; work dir {work}\n")

    costs: dict[tuple[str, str], float] = {}
    interp: dict[str, Any] = {}
    if "interpreters" in sections:
        costs, interp = interpreters(entries)
        report["interpreters"] = interp

    sides = [("raw", None), ("gateway", None)]
    if args.before_src:
        sides.append(("before", args.before_src))
    report["sides"] = [name for name, _ in sides]
    results: dict[str, list[dict[str, Any]]] = {}
    if "throughput" in sections:
        results = throughput(args, work, plugin_root, entries, sides, log)
    report["throughput"] = results
    if "latency" in sections:
        report["latency"] = latency(args, work, plugin_root, sides, log)

    # lateness + RSS with the API on
    report["lateness"] = {}
    for label in ("idle", "flood") if "lateness" in sections else ():
        flood = "benchsh" if label == "flood" else None
        instances: dict[str, Any] = {
            f"tick{i:02d}": {"uses": "benchpy", "schedules": [{"every": "1s"}]} for i in range(args.schedules)
        }
        if flood:
            instances[flood] = {}
        late_dir = write_config(work / f"lateness-{label}", plugin_root, instances)
        config_path = late_dir / "config.yaml"
        config = yaml.safe_load(config_path.read_text())
        config["api"] = {
            "enabled": True,
            "listen": "127.0.0.1:0",
            "auth": {"tokens": [{"name": "admin", "token": "bench-token-0123456789", "scopes": ["*"]}]},
        }
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        late = run_child(
            "lateness",
            {"config": str(late_dir), "seconds": args.lateness_seconds, "flood": flood},
            stderr_path=log,
        )
        report["lateness"][label] = {
            "fires": len(late["event_ms"]),
            "skipped": late["skipped"],
            "lagged": late["lagged"],
            "flood_jobs_done": late["flood_done"],
            "db": {q: percentile(late["db_ms"], q) for q in (50, 90, 99, 100)},
            "event": {q: percentile(late["event_ms"], q) for q in (50, 90, 99, 100)},
            "vm_hwm_kb": late["vm_hwm_kb"],
            "api": late["api"],
        }

    if args.rss_history:
        report["rss_history"] = rss_with_history(work, plugin_root, args.rss_history, args.schedules)

    # summary
    print_summary(args, report, results, costs, interp)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
