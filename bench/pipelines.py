"""Pipelines benchmark: what routing costs, measured against the same work without it, in one run.

    .venv/bin/python bench/pipelines.py            # full run (a few minutes on 2 cores)
    .venv/bin/python bench/pipelines.py --quick    # fewer chains, jobs and repeats

Every measurement runs the real gateway (`Gateway(prepare(config))`, the object `ductile system
start` runs, JSON logging to a file) in a fresh child process; its baseline runs in another fresh
child right before or after it (order alternating between repeats), so machine noise hits both.

(a) Per-hop overhead. A trigger plugin's poll emits `go`; pipeline `hop5: on go, steps [s1..s5]`,
    each step the same trivial bash plugin. Chains run one at a time. End-to-end = step 5's
    `completed_at` - step 1's `created_at` (step 1 is created when the trigger's completion is
    routed), read from the database: 5 claims + 5 spawns + 5 completions + 4 routings. Baseline =
    the same entrypoint spawned 5 times back to back by a bare asyncio loop (same env, same request
    shape). Per-hop overhead = (end-to-end - bare 5 runs) / 5, per chain, paired by index;
    p50/p90 over all chains. Target: p50 ≤ 15 ms.
(b) Fan-out. One `wide` event matched by K pipelines (K = 50, and K = 1 for comparison), each a
    single step. Reported: how many distinct `created_at` stamps the K children carry (1 = one
    transaction), whether every child existed when the parent turned `succeeded`, and the wall time
    of the store call that completed the parent (the store's methods are wrapped with a timer in
    the child process; the slowest call on the trigger's completion is the routing transaction).
(c) Routing's cost to plain dispatch. N poll jobs of a trivial bash plugin that is in no pipeline
    (emitting nothing, or one event that no pipeline listens to), through a gateway with no
    `pipelines:` and through one with 50 pipelines configured on other events. Ratio of jobs/s,
    medians of paired runs. Target: < 5 % slower.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
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

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parent))
import dispatch  # noqa: E402  (bench/dispatch.py: the bare spawn loop, percentile, shebang checks)

VENV_BIN = Path(sys.executable).parent
BENCH_PATH = f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"


def bash_plugin(events: str = "") -> str:
    """A trivial protocol-v2 bash plugin; `events` is a JSON list body (may be empty)."""
    return (
        "#!/usr/bin/env bash\n"
        "read -r _request\n"
        f'printf \'%s\\n\' \'{{"status":"ok","result":"done","events":[{events}]}}\'\n'
    )


PLUGINS = {
    "hop": bash_plugin(),
    "go": bash_plugin('{"type":"go","payload":{}}'),
    "wide": bash_plugin('{"type":"wide","payload":{}}'),
    "quiet": bash_plugin(),
    "chatty": bash_plugin('{"type":"bench.tick","payload":{"n":1}}'),
}


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
            "commands": [{"name": "poll", "type": "read"}, {"name": "handle", "type": "write"}],
        }
        (directory / "manifest.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
        entry = directory / "run"
        entry.write_text(script)
        entry.chmod(0o755)
        out[name] = entry
    return out


def write_config(directory: Path, plugin_root: Path, plugins: dict[str, Any], pipelines: list[Any] | None) -> Path:
    directory.mkdir(parents=True)
    config: dict[str, Any] = {
        "service": {"log_format": "json", "log_level": "info"},
        "database": {"path": "./data/ductile.db"},
        "plugin_roots": [str(plugin_root)],
        "plugins": plugins,
    }
    if pipelines:
        config["pipelines"] = pipelines
    (directory / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return directory


def other_pipelines(count: int) -> list[dict[str, Any]]:
    """Pipelines that plain jobs never match: other event types, some gated, some multi-step."""
    out: list[dict[str, Any]] = []
    for i in range(count):
        pipe: dict[str, Any] = {"name": f"other{i:02d}", "on": f"other.event.{i}", "steps": [{"uses": "hop"}]}
        if i % 3 == 1:
            pipe["if"] = {"path": "payload.n", "op": "gt", "value": i}
        if i % 5 == 2:
            pipe["steps"] = [{"uses": "hop"}, {"uses": "hop", "if": {"path": "payload.ok", "op": "eq", "value": True}}]
        out.append(pipe)
    return out


# -- children -----------------------------------------------------------------------------------
def _gateway(config: str) -> Any:
    from ductile import logs
    from ductile.gateway import Gateway, prepare

    setup = prepare(config)
    service = setup.loaded.config.service
    logs.setup(service.log_level, service.log_format)
    gateway = Gateway(setup)
    gateway.open()
    return gateway


async def _until_idle(gateway: Any, expected: int, interval: float = 0.002) -> None:
    """Until `expected` jobs exist and none is queued or running."""
    while True:
        counts = gateway.store.status_counts()
        total = sum(counts.values())
        if total >= expected and counts["queued"] == 0 and counts["running"] == 0:
            return
        await asyncio.sleep(interval)


def child_chain_gateway(spec: dict[str, Any]) -> dict[str, Any]:
    from ductile.timeutil import from_text

    gateway = _gateway(spec["config"])

    async def main() -> list[float]:
        ready = asyncio.Event()
        running = asyncio.create_task(gateway.run(ready=ready))
        await ready.wait()
        for i in range(spec["chains"]):
            gateway.enqueue("go", "poll", submitted_by="bench")
            await _until_idle(gateway, (i + 1) * 6)
        rows = gateway.store._read(  # type: ignore[attr-defined]
            "SELECT step_id, created_at, completed_at, status, route_key FROM jobs WHERE pipeline = 'hop5' "
            "ORDER BY created_at, rowid"
        )
        gateway.stop_event.set()
        await running
        assert all(r[3] == "succeeded" for r in rows), rows[:3]
        out = []
        for i in range(0, len(rows), 5):
            chain = rows[i : i + 5]
            assert [r[0] for r in chain] == ["s1", "s2", "s3", "s4", "s5"], chain
            out.append((from_text(chain[-1][2]) - from_text(chain[0][1])).total_seconds() * 1000)
        return out

    return {"e2e_ms": asyncio.run(main())}


def child_chain_bare(spec: dict[str, Any]) -> dict[str, Any]:
    """The 5 step processes of one chain, spawned back to back; `chains` times."""
    out = []
    for _ in range(spec["chains"]):
        run = dispatch.child_bare({"entry": spec["entry"], "jobs": 5, "workers": 1, "workdir": spec["workdir"]})
        assert run["failures"] == 0
        out.append(run["seconds"] * 1000)
    return {"bare5_ms": out}


def child_fanout(spec: dict[str, Any]) -> dict[str, Any]:
    """Trigger `wide` `rounds` times; time the store calls made while each trigger completes."""
    gateway = _gateway(spec["config"])
    store = gateway.store
    calls: list[tuple[str, float, float]] = []  # (method, CPU ms of this thread, wall ms)
    for name in dir(store):
        method = getattr(store, name)
        if name.startswith("_") or not callable(method) or name in ("status_counts", "start_checkpointer"):
            continue

        def timed(*args: Any, __m: Any = method, __n: str = name, **kwargs: Any) -> Any:
            started, cpu = time.perf_counter(), time.thread_time()
            try:
                return __m(*args, **kwargs)
            finally:
                calls.append((__n, (time.thread_time() - cpu) * 1000, (time.perf_counter() - started) * 1000))

        functools.update_wrapper(timed, method)
        setattr(store, name, timed)

    async def main() -> list[dict[str, Any]]:
        ready = asyncio.Event()
        running = asyncio.create_task(gateway.run(ready=ready))
        await ready.wait()
        out = []
        per_round = 1 + spec["pipelines"]
        for i in range(spec["rounds"]):
            calls.clear()
            result = gateway.enqueue("wide", "poll", submitted_by="bench")
            trigger = result.job_id
            seen_complete_with = None
            while seen_complete_with is None:
                row = store._read("SELECT status FROM jobs WHERE job_id = ?", (trigger,))[0]  # type: ignore[attr-defined]
                if row[0] == "succeeded":
                    seen_complete_with = store._read(  # type: ignore[attr-defined]
                        "SELECT count(*) FROM jobs WHERE parent_job_id = ?", (trigger,)
                    )[0][0]
                await asyncio.sleep(0.001)
            await _until_idle(gateway, (i + 1) * per_round)
            children = store._read(  # type: ignore[attr-defined]
                "SELECT created_at FROM jobs WHERE parent_job_id = ?", (trigger,)
            )
            slowest = max((c for c in calls), key=lambda c: c[2], default=("none", 0.0, 0.0))
            out.append(
                {
                    "children": len(children),
                    "distinct_created_at": len({c[0] for c in children}),
                    "children_when_parent_succeeded": seen_complete_with,
                    "slowest_store_call": slowest[0],
                    "slowest_store_call_ms": slowest[2],
                    "slowest_store_call_cpu_ms": slowest[1],
                }
            )
        gateway.stop_event.set()
        await running
        return out

    return {"rounds": asyncio.run(main())}


CHILDREN = {
    "chain_gateway": child_chain_gateway,
    "chain_bare": child_chain_bare,
    "fanout": child_fanout,
    "throughput": dispatch.child_gateway,
}


def run_child(kind: str, spec: dict[str, Any], log: Path) -> dict[str, Any]:
    with open(log, "ab") as err:
        proc = subprocess.run(
            [sys.executable, str(HERE), "--child", kind, json.dumps(spec)],
            env=dict(os.environ, PATH=BENCH_PATH),
            stdout=subprocess.PIPE,
            stderr=err,
            check=False,
        )
    if proc.returncode != 0:
        raise SystemExit(f"{kind} child failed ({proc.returncode}); see {log}")
    return json.loads(proc.stdout.decode().strip().splitlines()[-1])


# -- the run ------------------------------------------------------------------------------------
def per_hop(args: argparse.Namespace, work: Path, root: Path, entries: dict[str, Path], log: Path) -> dict[str, Any]:
    plugins = {"go": {}, "hop": {}}
    pipelines = [
        {
            "name": "hop5",
            "on": "go",
            "from_plugin": "go",
            "steps": [{"id": f"s{i}", "uses": "hop"} for i in range(1, 6)],
        }
    ]
    hops: list[float] = []
    e2e_all: list[float] = []
    bare_all: list[float] = []
    for rep in range(args.repeat):
        cfg = write_config(work / f"hop-{rep}", root, plugins, pipelines)
        order = ("bare", "gateway") if rep % 2 == 0 else ("gateway", "bare")
        got: dict[str, list[float]] = {}
        for kind in order:
            if kind == "bare":
                spec = {"entry": str(entries["hop"]), "chains": args.chains, "workdir": str(cfg)}
                got["bare"] = run_child("chain_bare", spec, log)["bare5_ms"]
            else:
                got["gateway"] = run_child("chain_gateway", {"config": str(cfg), "chains": args.chains}, log)["e2e_ms"]
        pairs = list(zip(got["gateway"], got["bare"], strict=True))
        rep_hops = [(g - b) / 5 for g, b in pairs]
        hops += rep_hops
        e2e_all += got["gateway"]
        bare_all += got["bare"]
        print(
            f"  (a) rep {rep + 1}: {len(pairs)} chains; end-to-end p50 {statistics.median(got['gateway']):.1f} ms, "
            f"bare 5 runs p50 {statistics.median(got['bare']):.1f} ms → per hop p50 {statistics.median(rep_hops):.2f} ms",
            flush=True,
        )
    return {
        "chains": len(hops),
        "e2e_p50_ms": statistics.median(e2e_all),
        "bare5_p50_ms": statistics.median(bare_all),
        "hop_p50_ms": dispatch.percentile(hops, 50),
        "hop_p90_ms": dispatch.percentile(hops, 90),
        "hop_max_ms": max(hops),
    }


def fan_out(args: argparse.Namespace, work: Path, root: Path, log: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for count in (0, 1, 50):
        pipelines = [{"name": f"w{i:02d}", "on": "wide", "steps": [{"uses": "hop"}]} for i in range(count)]
        cfg = write_config(work / f"fan-{count}", root, {"wide": {}, "hop": {}}, pipelines)
        rounds = run_child("fanout", {"config": str(cfg), "pipelines": count, "rounds": args.fan_rounds}, log)["rounds"]
        ms = [r["slowest_store_call_ms"] for r in rounds]
        cpu = [r["slowest_store_call_cpu_ms"] for r in rounds]
        out[count] = {
            "rounds": len(rounds),
            "children": sorted({r["children"] for r in rounds}),
            "distinct_created_at": sorted({r["distinct_created_at"] for r in rounds}),
            "children_when_parent_succeeded": sorted({r["children_when_parent_succeeded"] for r in rounds}),
            "slowest_store_call": sorted({r["slowest_store_call"] for r in rounds}),
            "completion_ms_p50": statistics.median(ms),
            "completion_ms_max": max(ms),
            "completion_cpu_ms_p50": statistics.median(cpu),
        }
        row = out[count]
        print(
            f"  (b) {count:2d} pipelines: children {row['children']} (distinct created_at {row['distinct_created_at']}, "
            f"present when the parent turned succeeded: {row['children_when_parent_succeeded']}); "
            f"completing store call {row['slowest_store_call']} p50 {row['completion_ms_p50']:.2f} ms, "
            f"max {row['completion_ms_max']:.2f} ms (CPU p50 {row['completion_cpu_ms_p50']:.2f} ms)",
            flush=True,
        )
    return out


def dispatch_cost(args: argparse.Namespace, work: Path, root: Path, log: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for instance in ("quiet", "chatty"):
        ratios = []
        cpu: dict[str, list[float]] = {"with": [], "without": []}
        for rep in range(args.repeat):
            pair = {}
            order = ("without", "with") if rep % 2 == 0 else ("with", "without")
            for side in order:
                pipelines = other_pipelines(50) if side == "with" else None
                cfg = write_config(work / f"tp-{instance}-{side}-{rep}", root, {instance: {}, "hop": {}}, pipelines)
                run = run_child("throughput", {"config": str(cfg), "jobs": args.jobs, "instance": instance}, log)
                assert run["failures"] == 0, run
                pair[side] = run["jobs"] / run["seconds"]
                cpu[side].append(run["cpu_s"] * 1000 / run["jobs"])
            ratios.append(pair["with"] / pair["without"])
            print(
                f"  (c) rep {rep + 1} {instance}: without pipelines {pair['without']:.1f} jobs/s, "
                f"with 50 pipelines {pair['with']:.1f} jobs/s → {pair['with'] / pair['without'] - 1:+.1%}; "
                f"gateway CPU/job {cpu['without'][-1]:.2f} vs {cpu['with'][-1]:.2f} ms",
                flush=True,
            )
        out[instance] = {
            "ratios": ratios,
            "median_change": statistics.median(ratios) - 1,
            "cpu_ms_per_job_without": statistics.median(cpu["without"]),
            "cpu_ms_per_job_with": statistics.median(cpu["with"]),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("spec", nargs="?", help=argparse.SUPPRESS)
    parser.add_argument("--chains", type=int, default=40, help="5-step chains per gateway run (default 40)")
    parser.add_argument("--fan-rounds", type=int, default=20, help="fan-out triggers per K (default 20)")
    parser.add_argument("--jobs", type=int, default=1500, help="jobs per throughput run (default 1500)")
    parser.add_argument("--repeat", type=int, default=3, help="pairs per measurement (default 3)")
    parser.add_argument("--quick", action="store_true", help="10 chains, 5 fan-out rounds, 300 jobs, 1 repeat")
    parser.add_argument("--only", default="abc", help="which measurements to run, e.g. bc (default abc)")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(CHILDREN[args.child](json.loads(args.spec))), flush=True)
        return
    if args.quick:
        args.chains, args.fan_rounds, args.jobs, args.repeat = 10, 5, 300, 1

    from ductile.config_models import _default_workers

    work = Path(tempfile.mkdtemp(prefix="ductile-bench-pipelines-"))
    root = work / "plugins"
    entries = write_plugins(root)
    log = work / "children.log"
    report: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "default_max_workers": _default_workers(),
        "loadavg_start": os.getloadavg(),
    }
    print(f"ductile pipelines benchmark — {report['date']}")
    print(
        f"nproc={report['nproc']}  python={report['python']}  kernel={report['kernel']}  "
        f"max_workers={report['default_max_workers']}  load {report['loadavg_start'][0]:.2f}; work dir {work}\n"
    )
    started = time.monotonic()
    if "a" in args.only:
        report["per_hop"] = per_hop(args, work, root, entries, log)
        h = report["per_hop"]
        print(
            f"(a) per-hop overhead over {h['chains']} chains: p50 {h['hop_p50_ms']:.2f} ms, "
            f"p90 {h['hop_p90_ms']:.2f} ms, max {h['hop_max_ms']:.2f} ms (end-to-end p50 {h['e2e_p50_ms']:.1f} ms "
            f"vs bare 5 runs {h['bare5_p50_ms']:.1f} ms); target p50 ≤ 15 ms\n",
            flush=True,
        )
    if "b" in args.only:
        report["fan_out"] = fan_out(args, work, root, log)
        print()
    if "c" in args.only:
        report["dispatch_cost"] = dispatch_cost(args, work, root, log)
        for instance, row in report["dispatch_cost"].items():
            print(
                f"(c) {instance}: median change with 50 pipelines configured {row['median_change']:+.1%} "
                f"(ratios {', '.join(f'{r:.3f}' for r in row['ratios'])}); target > -5 %; gateway CPU/job median "
                f"{row['cpu_ms_per_job_without']:.2f} ms without, {row['cpu_ms_per_job_with']:.2f} ms with"
            )
    report["loadavg_end"] = os.getloadavg()
    report["seconds"] = time.monotonic() - started
    print(f"\nload average at the end {report['loadavg_end'][0]:.2f}; {report['seconds']:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
