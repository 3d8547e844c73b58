"""Where the gateway's time goes per job: py-spy over the full-queue gateway child of
`bench/dispatch.py`, and statement timings of the store's claim and finish transactions.

    .venv/bin/pip install py-spy==0.4.3        # dev-only, not a dependency of ductile
    .venv/bin/python bench/profile_dispatch.py [--jobs 2000] [--workers 2] [--plugin benchsh]

Prints (1) the functions with the largest share of the gateway's samples (inclusive and self),
sampled from the moment the workers are released until the queue is empty, and (2) the median
time of every SQL statement the store runs for one job (enqueue, claim, finish), measured
through a timing proxy on the real `SqliteStore` connection.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import dispatch  # noqa: E402
import dispatch_children  # noqa: E402


def profile(work: Path, plugin: str, workers: int, jobs: int, rate: int) -> dict[str, Any]:
    entries_root = work / "plugins"
    dispatch.write_plugins(entries_root)
    port = dispatch_children.free_port()
    cfg = dispatch_children.write_gateway_config(work / "gw", entries_root, plugin, workers, port)
    spec = {"config": str(cfg), "jobs": jobs, "instance": plugin, "workers": workers, "port": port}
    env = dict(os.environ, PATH=dispatch.BENCH_PATH)
    child = subprocess.Popen(
        [sys.executable, str(HERE / "dispatch.py"), "--child", "gateway", json.dumps(spec)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    while not (cfg / "release").exists():
        if child.poll() is not None:
            raise SystemExit("gateway child ended before the release")
        time.sleep(0.005)
    raw = work / "profile.txt"
    py_spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"
    spy = subprocess.Popen(
        [py_spy, "record", "-r", str(rate), "-f", "raw", "-o", str(raw), "--pid", str(child.pid)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    out = json.loads(child.communicate()[0].decode().strip().splitlines()[-1])
    spy.wait()
    return {"result": out, "samples": raw.read_text() if raw.exists() else ""}


def summarise(samples: str, top: int) -> None:
    total = 0
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    for line in samples.splitlines():
        if not line.strip():
            continue
        stack, count = line.rsplit(" ", 1)
        n = int(count)
        frames = stack.split(";")
        if not any("Dispatcher" in f or "BaseEventLoop" in f for f in frames):
            continue  # other threads (the WAL checkpointer sleeping)
        total += n
        own[frames[-1]] += n
        for name in {f.split(" (")[0] for f in frames}:
            inclusive[name] += n
    print(f"{total} samples of the event-loop thread")
    print("inclusive:")
    for name, n in inclusive.most_common(top):
        print(f"  {n / total:6.1%}  {name}")
    print("self:")
    for name, n in own.most_common(top // 2):
        print(f"  {n / total:6.1%}  {name}")


def statements(jobs: int) -> None:
    from datetime import UTC, datetime

    from ductile.jobs import AttemptRecord, NewJob
    from ductile.lifecycle import Decision, Status
    from ductile.store import SqliteStore

    times: dict[str, list[float]] = collections.defaultdict(list)

    class Timed:
        def __init__(self, db: Any):
            self._db = db

        def execute(self, sql: str, params: Any = ()) -> Any:
            started = time.perf_counter()
            cursor = self._db.execute(sql, params)
            times[" ".join(sql.split()[:4])].append(time.perf_counter() - started)
            return cursor

        def __getattr__(self, name: str) -> Any:
            return getattr(self._db, name)

    directory = Path(tempfile.mkdtemp(prefix="ductile-stmt-"))
    store = SqliteStore(directory / "x.db")
    store.start_checkpointer()
    store._db = Timed(store._db)  # type: ignore[attr-defined]
    now = datetime.now(UTC)
    for _ in range(jobs):
        store.enqueue(NewJob(plugin="benchsh", command="poll", submitted_by="api"), now=now, dedupe_since=None)
    whole: dict[str, list[float]] = {
        "claim (one transaction)": [],
        "finish (one transaction)": [],
        "finish_then_claim (one transaction)": [],
    }
    record = AttemptRecord("success", "-", "-", 3.0, response={"status": "ok", "result": "done"}, stderr="")
    half = jobs // 2
    for _ in range(half):  # separate transactions, as the dispatcher did before finish_then_claim
        started = time.perf_counter()
        job = store.claim(now=now, start=lambda _job: 4242)
        whole["claim (one transaction)"].append(time.perf_counter() - started)
        assert job is not None
        started = time.perf_counter()
        store.finish(job, record, Decision(Status.SUCCEEDED), now=now)
        whole["finish (one transaction)"].append(time.perf_counter() - started)
    job = store.claim(now=now, start=lambda _job: 4242)
    while job is not None:  # what a busy worker does now: one transaction per job
        started = time.perf_counter()
        _done, job = store.finish_then_claim(job, record, Decision(Status.SUCCEEDED), now=now, start=lambda _j: 4242)
        whole["finish_then_claim (one transaction)"].append(time.perf_counter() - started)
    store.close()
    shutil.rmtree(directory, ignore_errors=True)
    print(f"\nstatement timings over {jobs} jobs (median µs per execution, µs per job):")
    for name, values in sorted(times.items(), key=lambda kv: -sum(kv[1])):
        print(f"  {statistics.median(values) * 1e6:7.1f}  {sum(values) / jobs * 1e6:7.1f}  {name}")
    for name, values in whole.items():
        print(f"  {statistics.median(values) * 1e6:7.1f}           {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--plugin", default="benchsh", choices=["benchsh", "benchpy"])
    parser.add_argument("--rate", type=int, default=500, help="py-spy samples per second")
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()
    print(f"load average {dispatch_children.load_average()}")
    work = Path(tempfile.mkdtemp(prefix="ductile-profile-"))
    try:
        got = profile(work, args.plugin, args.workers, args.jobs, args.rate)
        result = got["result"]
        print(
            f"gateway: {result['jobs'] / result['seconds']:.1f} jobs/s, "
            f"{result['cpu_s'] * 1000 / result['jobs']:.2f} ms CPU/job (while sampled)"
        )
        summarise(got["samples"], args.top)
        statements(args.jobs)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"load average {dispatch_children.load_average()}")


if __name__ == "__main__":
    main()
