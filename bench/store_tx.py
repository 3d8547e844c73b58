"""CPU of the store's per-job transaction: `finish_then_claim` on a real `SqliteStore`, as a busy
worker runs it (finish job N, claim job N+1 in one transaction), without the gateway around it.

    .venv/bin/python bench/store_tx.py [--jobs 3000] [--repeat 5] [--before-src DIR]

Each run is a fresh child process with a fresh database: `--jobs` jobs enqueued, then claimed
and finished one by one; CPU = `time.thread_time()` over the finish_then_claim loop ÷ jobs (and the whole process's,
which adds the background WAL checkpointer thread).
With `--before-src` the same child imports ductile from that directory; the two sides alternate
and the 1-minute load average is printed beside each pair.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def child(jobs: int) -> dict[str, float]:
    from datetime import UTC, datetime

    from ductile.jobs import AttemptRecord, NewJob
    from ductile.lifecycle import Decision, Status
    from ductile.store import SqliteStore

    directory = Path(tempfile.mkdtemp(prefix="ductile-storetx-"))
    store = SqliteStore(directory / "x.db")
    store.start_checkpointer()
    now = datetime.now(UTC)
    for _ in range(jobs):
        store.enqueue(NewJob(plugin="benchsh", command="poll", submitted_by="api"), now=now, dedupe_since=None)
    record = AttemptRecord("success", "-", "-", 3.0, response={"status": "ok", "result": "done"}, stderr="")
    job = store.claim(now=now, start=lambda _job: 4242)
    done = 0
    process = time.process_time()
    cpu = time.thread_time()
    while job is not None:
        _finished, job = store.finish_then_claim(
            job, record, Decision(Status.SUCCEEDED), now=now, excluded_plugins=["hold"], start=lambda _j: 4242
        )
        done += 1
    cpu = time.thread_time() - cpu
    process = time.process_time() - process
    counts = store.status_counts()
    store.close()
    assert counts["succeeded"] == jobs, counts
    return {"us_per_job": cpu * 1e6 / done, "process_us_per_job": process * 1e6 / done}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--before-src")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child)))
        return
    sides = [("after", None)] + ([("before", str(Path(args.before_src).resolve()))] if args.before_src else [])
    got: dict[str, list[float]] = {side: [] for side, _ in sides}
    for rep in range(args.repeat):
        order = sides if rep % 2 == 0 else sides[::-1]
        line = []
        for side, src in order:
            env = dict(os.environ)
            if src:
                env["PYTHONPATH"] = src
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(args.jobs)], env=env, capture_output=True, text=True
            )
            if out.returncode:
                raise SystemExit(out.stderr[-2000:])
            result = json.loads(out.stdout.strip().splitlines()[-1])
            us = result["us_per_job"]
            got[side].append(us)
            line.append(
                f"{side} {us:6.1f} µs/job (process, with the checkpointer thread: {result['process_us_per_job']:.1f})"
            )
        print(f"  pair {rep + 1}: " + ", ".join(line) + f"  [load {os.getloadavg()[0]:.2f}]", flush=True)
    for side, values in got.items():
        print(f"{side}: median {statistics.median(values):.1f} µs/job of CPU in finish_then_claim")
    if args.before_src:
        ratios = [a / b for a, b in zip(got["after"], got["before"], strict=True)]
        print(f"after ÷ before, median of pairs: {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
