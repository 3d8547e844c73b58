"""Where the gateway's CPU goes, sampled by Linux `perf` with Python frames named: no profiler hooks
in the process (unlike `cpu_split.py`) and C (SQLite, libc, the kernel) and Python in one picture.

    .venv/bin/python bench/perf_dispatch.py --python /path/to/python3.12 [--jobs 1000] [--top 40]

Needs `perf` and a Python >= 3.12 for the gateway child (`-X perf` writes the map perf uses to name
Python functions; a venv of 3.12 with this package installed, e.g. `python3.12 -m venv /tmp/v312 &&
/tmp/v312/bin/pip install -e .`). The child is `bench/dispatch.py --child gateway` (bash plugin, one
worker, a full queue); perf attaches to it once the queue is full, samples with DWARF call graphs
until the queue is empty, and this prints the gateway process's samples by library and the Python
functions with the largest inclusive share. Sampling adds its own cost: read shares, not times.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import dispatch  # noqa: E402
import dispatch_children  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", required=True, help="a Python >= 3.12 with ductile's dependencies")
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()
    if shutil.which("perf") is None:
        raise SystemExit("perf is not installed")
    work = Path(tempfile.mkdtemp(prefix="ductile-perf-"))
    try:
        root = work / "plugins"
        dispatch.write_plugins(root)
        port = dispatch_children.free_port()
        cfg = dispatch_children.write_gateway_config(work / "gw", root, "benchsh", 1, port)
        spec = {"config": str(cfg), "jobs": args.jobs, "instance": "benchsh", "workers": 1, "port": port}
        env = dict(os.environ, PATH=dispatch.BENCH_PATH, PYTHONPATH=str(HERE.parent / "src"))
        child = subprocess.Popen(
            [args.python, "-X", "perf", str(HERE / "dispatch.py"), "--child", "gateway", json.dumps(spec)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        db = Path(cfg) / "data" / "ductile.db"
        while _queued(db) != args.jobs:  # the child releases the workers 0.5 s after the last enqueue
            if child.poll() is not None:
                raise SystemExit("the gateway child ended before its queue was full")
            time.sleep(0.05)
        data = work / "perf.data"
        perf = subprocess.Popen(
            ["perf", "record", "-F", "999", "--call-graph", "dwarf,16384", "-p", str(child.pid), "-o", str(data)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        result = json.loads(child.communicate()[0].decode().strip().splitlines()[-1])
        perf.send_signal(2)
        perf.wait()
        print(f"{args.jobs} jobs, {result['cpu_s'] * 1000 / args.jobs:.3f} ms gateway CPU per job under perf")
        report(data, "--no-children", "dso", 12, "by library (self)")
        report(data, "--children", "sym", args.top, "Python functions (inclusive)", only=r"py::")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _queued(db: Path) -> int:
    try:
        with sqlite3.connect(db) as conn:
            return conn.execute("SELECT count(*) FROM jobs WHERE plugin = 'benchsh' AND status = 'queued'").fetchone()[
                0
            ]
    except sqlite3.Error:
        return -1


def report(data: Path, mode: str, key: str, top: int, title: str, only: str | None = None) -> None:
    """perf's lines for the gateway process (comm `python`), as a share of that process's samples."""
    out = subprocess.run(
        [
            "perf",
            "report",
            "-i",
            str(data),
            mode,
            "--comm",
            "python",
            "--sort",
            key,
            "--stdio",
            "-g",
            "none",
            "--percentage",
            "relative",
        ],
        capture_output=True,
        text=True,
    ).stdout
    rows = [line for line in out.splitlines() if line.strip() and not line.startswith("#")]
    if only:
        rows = [line for line in rows if re.search(only, line)]
    print(f"\n{title}:")
    for line in rows[:top]:
        print("  " + re.sub(r"\s+", " ", line.strip()).replace(str(HERE.parent) + "/", ""))


if __name__ == "__main__":
    main()
