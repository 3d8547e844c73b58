"""CPU of the store's per-job transaction: `finish_then_claim` on a real `SqliteStore`, as a busy
worker runs it (finish job N, claim job N+1 in one transaction), without the gateway around it.

    .venv/bin/python bench/store_tx.py [--jobs 3000] [--repeat 5] [--before-src DIR]
    .venv/bin/python bench/store_tx.py --ablate     # what each trigger/index group costs
    .venv/bin/python bench/store_tx.py --batch 1,2,4  # k jobs' finish+claim in one transaction
    .venv/bin/python bench/store_tx.py --explain      # CPU per statement, WAL frames per B-tree

Each run is a fresh child process with a fresh database: `--jobs` jobs enqueued, then claimed
and finished one by one; CPU = `time.thread_time()` over the finish_then_claim loop ÷ jobs (and the whole process's,
which adds the background WAL checkpointer thread).
With `--before-src` the same child imports ductile from that directory; the two sides alternate
and the 1-minute load average is printed beside each pair.

`--ablate` answers "where is the floor": the same loop on databases with parts of the schema
dropped after creation (the hourly counter triggers; all counter triggers; the two plugin+status
indexes; the two attempt indexes; all of them). Not a configuration anyone runs — every one of
those is read by some surface — but it bounds what schema work could still win. `--batch k`
finishes and claims k jobs per transaction (what group commit across k concurrent workers could
win at most: it ignores the wait for the k ends to coincide).

`--explain` answers "where do the microseconds inside the transaction go": one child runs the
loop with every `execute` on the store's connection timed (CPU, grouped by statement; trigger
work counts in the statement that fired it), then reads the WAL of a run of 20 transactions
after a truncating checkpoint and names the B-tree each written page belongs to (`dbstat`):
every page a commit touches is one frame, i.e. two `pwrite` calls.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ABLATIONS = {
    "schema as shipped": [],
    "no hourly triggers": ["DROP TRIGGER jobs_hourly_update", "DROP TRIGGER jobs_hourly_insert"],
    "no counter triggers": [
        f"DROP TRIGGER {name}"
        for name in ("jobs_hourly_update", "jobs_hourly_insert", "jobs_count_update", "jobs_count_insert")
    ],
    "no plugin+status indexes": [
        "DROP INDEX jobs_plugin_status_created",
        "DROP INDEX jobs_plugin_command_status_created",
    ],
    "no attempt indexes": ["DROP INDEX attempts_started", "DROP INDEX attempts_plugin_started"],
}
ABLATIONS["all of those dropped"] = list(
    dict.fromkeys(sql for name, sqls in ABLATIONS.items() if name.startswith("no ") for sql in sqls)
)


def child(jobs: int, ablate: str = "", batch: int = 1) -> dict[str, float]:
    import sqlite3
    from datetime import UTC, datetime

    from ductile.jobs import AttemptRecord, NewJob
    from ductile.lifecycle import Decision, Status
    from ductile.store import SqliteStore

    directory = Path(tempfile.mkdtemp(prefix="ductile-storetx-"))
    store = SqliteStore(directory / "x.db")
    if ablate:
        with contextlib.closing(sqlite3.connect(directory / "x.db", isolation_level=None)) as db:
            for sql in ABLATIONS[ablate]:
                db.execute(sql)
    store.start_checkpointer()
    now = datetime.now(UTC)
    for _ in range(jobs):
        store.enqueue(NewJob(plugin="benchsh", command="poll", submitted_by="api"), now=now, dedupe_since=None)
    record = AttemptRecord("success", "-", "-", 3.0, response={"status": "ok", "result": "done"}, stderr="")
    running = [store.claim(now=now, start=lambda _job: 4242) for _ in range(batch)]
    done = 0
    process = time.process_time()
    cpu = time.thread_time()
    while running and batch == 1:
        _finished, job = store.finish_then_claim(
            running[0], record, Decision(Status.SUCCEEDED), now=now, excluded_plugins=["hold"], start=lambda _j: 4242
        )
        running = [job] if job is not None else []
        done += 1
    while running:  # --batch k: the store's own finish and claim steps, k of each per transaction
        with store.breakers.after_commit() as breaker, store._tx() as db:
            claimed = []
            for job in running:
                store._finish_in(db, breaker, job, record, Decision(Status.SUCCEEDED), now, None, None, None)
                done += 1
                next_job = store._claim_in(db, now, ["hold"], lambda _j: 4242)
                if next_job is not None:
                    claimed.append(next_job)
        running = claimed
    cpu = time.thread_time() - cpu
    process = time.process_time() - process
    # counted from the rows: an ablation may have dropped the triggers `status_counts` reads
    succeeded = store._read("SELECT count(*) FROM jobs WHERE status = 'succeeded'")[0][0]
    store.close()
    assert succeeded == jobs == done, (succeeded, jobs, done)
    return {"us_per_job": cpu * 1e6 / done, "process_us_per_job": process * 1e6 / done}


class _Timed:
    """Stands in for the store's connection: times each `execute` by its first words."""

    def __init__(self, db, spent, count):
        self._db, self._spent, self._count = db, spent, count

    def __getattr__(self, name):
        return getattr(self._db, name)

    def execute(self, sql, *args):
        began = time.thread_time()
        try:
            return self._db.execute(sql, *args)
        finally:
            key = " ".join(sql.split()[:3])
            self._spent[key] += time.thread_time() - began
            self._count[key] += 1


def explain(jobs: int) -> None:
    import collections
    import sqlite3
    import struct
    from datetime import UTC, datetime

    from ductile.jobs import AttemptRecord, NewJob
    from ductile.lifecycle import Decision, Status
    from ductile.store import SqliteStore

    directory = Path(tempfile.mkdtemp(prefix="ductile-storetx-"))
    store = SqliteStore(directory / "x.db")
    now = datetime.now(UTC)
    for _ in range(jobs + 21):
        store.enqueue(NewJob(plugin="benchsh", command="poll", submitted_by="api"), now=now, dedupe_since=None)
    record = AttemptRecord("success", "-", "-", 3.0, response={"status": "ok", "result": "done"}, stderr="")
    job = store.claim(now=now, start=lambda _job: 4242)

    def step(job):
        return store.finish_then_claim(
            job, record, Decision(Status.SUCCEEDED), now=now, excluded_plugins=["hold"], start=lambda _j: 4242
        )[1]

    spent: collections.Counter[str] = collections.Counter()
    count: collections.Counter[str] = collections.Counter()
    plain = store._db
    store._db = _Timed(plain, spent, count)
    began = time.thread_time()
    for _ in range(jobs):
        job = step(job)
    total = time.thread_time() - began
    store._db = plain
    print(f"finish_then_claim: {total * 1e6 / jobs:.1f} µs/job of CPU ({jobs} jobs, timing hooks included)")
    for key, value in spent.most_common():
        print(f"  {value * 1e6 / jobs:7.1f} µs  {count[key] / jobs:4.2f}/job  {key}")
    print(f"  {(total - sum(spent.values())) * 1e6 / jobs:7.1f} µs  Python around the statements")
    plain.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    runs = 20
    for _ in range(runs):
        job = step(job)
    wal = (directory / "x.db-wal").read_bytes()
    page_size = struct.unpack(">I", wal[8:12])[0]
    pages = [struct.unpack(">I", wal[at : at + 4])[0] for at in range(32, len(wal) - 23, 24 + page_size)]
    with contextlib.closing(sqlite3.connect(directory / "x.db")) as db:
        try:
            owner = dict(db.execute("SELECT pageno, name FROM dbstat"))
        except sqlite3.OperationalError:  # an SQLite built without the dbstat table: page numbers only
            owner = {}
    store.close()
    print(f"WAL frames per commit: {len(pages) / runs:.1f} (each one header and one page write)")
    for name, n in collections.Counter(owner.get(p, f"page {p}") for p in pages).most_common():
        print(f"  {n / runs:5.2f}  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child-ablate", default="", help=argparse.SUPPRESS)
    parser.add_argument("--child-batch", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--before-src")
    parser.add_argument("--ablate", action="store_true", help="one side per schema ablation (see above)")
    parser.add_argument("--batch", help="comma-separated k: one side per k jobs per transaction")
    parser.add_argument("--explain", action="store_true", help="CPU per statement and WAL frames per B-tree")
    args = parser.parse_args()
    if args.explain:
        explain(args.jobs)
        return
    if args.child:
        print(json.dumps(child(args.child, args.child_ablate, args.child_batch)))
        return
    # a side: (label, src directory or None, ablation name, batch size)
    sides: list[tuple[str, str | None, str, int]] = [("after", None, "", 1)]
    if args.before_src:
        sides.append(("before", str(Path(args.before_src).resolve()), "", 1))
    if args.ablate:
        sides = [(name, None, name, 1) for name in ABLATIONS]
    if args.batch:
        sides = [(f"{k} per transaction", None, "", int(k)) for k in args.batch.split(",")]
    got: dict[str, list[float]] = {label: [] for label, *_ in sides}
    for rep in range(args.repeat):
        order = sides if rep % 2 == 0 else sides[::-1]
        line = []
        for label, src, ablate, batch in order:
            env = dict(os.environ)
            if src:
                env["PYTHONPATH"] = src
            command = [sys.executable, __file__, "--child", str(args.jobs)]
            if ablate:
                command += ["--child-ablate", ablate]
            if batch != 1:
                command += ["--child-batch", str(batch)]
            out = subprocess.run(command, env=env, capture_output=True, text=True)
            if out.returncode:
                raise SystemExit(out.stderr[-2000:])
            result = json.loads(out.stdout.strip().splitlines()[-1])
            us = result["us_per_job"]
            got[label].append(us)
            line.append(f"{label} {us:6.1f} (process {result['process_us_per_job']:.1f})")
        print(f"  round {rep + 1}, µs/job: " + ", ".join(line) + f"  [load {os.getloadavg()[0]:.2f}]", flush=True)
    for label, values in got.items():
        print(f"{label}: median {statistics.median(values):.1f} µs/job of CPU in finish_then_claim")
    if args.before_src and not (args.ablate or args.batch):
        ratios = [a / b for a, b in zip(got["after"], got["before"], strict=True)]
        print(f"after ÷ before, median of pairs: {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
