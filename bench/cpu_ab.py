"""The full-queue gateway's CPU per job for several source trees, alternated run by run.

    .venv/bin/python bench/cpu_ab.py JOBS WORKERS NAME=SRC [NAME=SRC ...]   # ROUNDS=4 by default
    # e.g. bench/cpu_ab.py 600 2 main=/tmp/before-main/src head=src
    PLUGIN=benchpy bench/cpu_ab.py 200 1 main=src   # the Python plugin (or benchidle) instead of bash

Each round runs the `bench/dispatch.py` gateway child (bash plugin, `JOBS` jobs, `max_workers`
`WORKERS`) once per tree with PYTHONPATH=SRC, in an order that reverses every round, and prints
the process's user+sys CPU per job with the 1-minute load average beside it; then the medians.
No raw side and no function wrappers (unlike `cpu_split.py`), so rounds are short and many: on a
shared machine the same code scatters by ±20 % run to run, and only many alternated runs
separate a few per cent.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import dispatch  # noqa: E402
import dispatch_children  # noqa: E402

PLUGIN = os.environ.get("PLUGIN", "benchsh")  # benchsh, benchpy or benchidle (bench/dispatch.py)


def one(src: str, jobs: int, workers: int) -> tuple[float, float]:
    work = Path(tempfile.mkdtemp(prefix="ductile-ab-"))
    try:
        root = work / "plugins"
        dispatch.write_plugins(root)
        port = dispatch_children.free_port()
        cfg = dispatch_children.write_gateway_config(work / "gw", root, PLUGIN, workers, port)
        spec = {"config": str(cfg), "jobs": jobs, "instance": PLUGIN, "workers": workers, "port": port}
        env = dict(os.environ, PATH=dispatch.BENCH_PATH, PYTHONPATH=str(Path(src).resolve()))
        proc = subprocess.run(
            [sys.executable, str(HERE / "dispatch.py"), "--child", "gateway", json.dumps(spec)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            check=True,
        )
        out = json.loads(proc.stdout.decode().strip().splitlines()[-1])
        return out["cpu_s"] * 1000 / jobs, jobs / out["seconds"]
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    if len(sys.argv) < 4:
        raise SystemExit(__doc__)
    jobs, workers = int(sys.argv[1]), int(sys.argv[2])
    trees = dict(arg.split("=", 1) for arg in sys.argv[3:])
    results: dict[str, list[float]] = {name: [] for name in trees}
    for round_ in range(int(os.environ.get("ROUNDS", "4"))):
        order = list(trees) if round_ % 2 == 0 else list(reversed(trees))
        for name in order:
            load = os.getloadavg()[0]
            cpu, rate = one(trees[name], jobs, workers)
            results[name].append(cpu)
            print(f"round {round_} {name:>8}: {cpu:.3f} ms CPU/job  {rate:6.0f} jobs/s  [load {load:.1f}]", flush=True)
    for name, values in results.items():
        print(
            f"{name:>8}: median {statistics.median(values):.3f} ms CPU/job  ({', '.join(f'{v:.3f}' for v in values)})"
        )


if __name__ == "__main__":
    main()
