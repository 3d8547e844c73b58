"""What wakes the gateway's event loop per job: the full-queue gateway child of
`bench/dispatch.py` run in this process, every loop iteration from the release to the empty queue
recorded with the number of epoll events it returned and the callbacks it ran.

    .venv/bin/python bench/loop_wakeups.py [JOBS] [WORKERS] [PLUGIN]   # default 300 jobs, 1 worker, benchsh

Why: each iteration costs an `epoll_wait` and a pass of the loop, and between plugin runs it runs
cache-cold; this shows which iterations the design makes inevitable (output and exit arriving at
different moments) and which are the task machinery's (a task step per job end, one per start).
Counts only; the CPU split is `bench/cpu_split.py`.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import selectors
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dispatch
import dispatch_children

jobs = int(sys.argv[1]) if len(sys.argv) > 1 else 300
workers = int(sys.argv[2]) if len(sys.argv) > 2 else 1
plugin = sys.argv[3] if len(sys.argv) > 3 else "benchsh"  # or benchpy
work = Path(tempfile.mkdtemp(prefix="hp-wake-"))
dispatch.write_plugins(work / "plugins")
os.environ["PATH"] = dispatch.BENCH_PATH
port = dispatch_children.free_port()
cfg = dispatch_children.write_gateway_config(work / "gw", work / "plugins", plugin, workers, port)

on = [False]
iterations: list[dict[str, Any]] = []
_select = selectors.EpollSelector.select
_run = asyncio.events.Handle._run


def select(self: selectors.EpollSelector, timeout: float | None = None) -> list[Any]:
    ready = _select(self, timeout)
    if on[0]:
        iterations.append({"waited": timeout != 0, "events": len(ready), "callbacks": []})
    return ready


def run(self: asyncio.Handle) -> None:
    if on[0] and iterations:
        callback = self._callback  # type: ignore[attr-defined]
        owner = getattr(callback, "__self__", None)
        if isinstance(owner, asyncio.Task):
            name = f"step of task {owner.get_name().split('-')[0]}"
        else:
            name = getattr(callback, "__qualname__", None) or getattr(getattr(callback, "func", None), "__name__", "?")
        iterations[-1]["callbacks"].append(name)
    return _run(self)


selectors.EpollSelector.select = select  # type: ignore[method-assign]
asyncio.events.Handle._run = run  # type: ignore[method-assign]
calls = [0]
cpu_seconds = dispatch_children.cpu_seconds


def measured() -> float:
    calls[0] += 1
    on[0] = calls[0] == 1  # the child calls it at the release and at the empty queue
    return cpu_seconds()


dispatch_children.cpu_seconds = measured
logging.disable(logging.CRITICAL)
dispatch_children.child_gateway(
    {"config": str(cfg), "jobs": jobs, "instance": plugin, "workers": workers, "port": port}
)
print(f"{plugin}, {workers} worker(s), {jobs} jobs: {len(iterations) / jobs:.2f} loop iterations per job")
shapes = collections.Counter((i["waited"], i["events"], tuple(i["callbacks"])) for i in iterations)
for (waited, events, callbacks), n in shapes.most_common(8):
    kind = f"woken by {events} epoll event(s)" if waited else "ready callbacks only (no wait)"
    print(f"  {n / jobs:5.2f}/job  {kind}: {', '.join(callbacks) or '-'}")
shutil.rmtree(work, ignore_errors=True)
