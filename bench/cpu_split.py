"""Where the gateway's own CPU goes per job: the full-queue gateway child of `bench/dispatch.py`
run in this process, with the hot functions wrapped to add up the event-loop thread's CPU time
(`time.thread_time`, exclusive of nested wrapped calls) from the release to the empty queue.

    .venv/bin/python bench/cpu_split.py [JOBS] [WORKERS] [PLUGIN]   # default 500 jobs, max_workers 2, benchsh

CPU time rather than py-spy's samples: on a shared machine the wall-clock shares are mostly
waiting for a core (the vfork wait, a pipe write that wakes the plugin), which costs no CPU.
"""

import collections
import functools
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dispatch
import dispatch_children

jobs = int(sys.argv[1]) if len(sys.argv) > 1 else 500
workers = int(sys.argv[2]) if len(sys.argv) > 2 else 2
plugin = sys.argv[3] if len(sys.argv) > 3 else "benchsh"  # or benchpy
work = Path(tempfile.mkdtemp(prefix="hp-split-"))
root = work / "plugins"
dispatch.write_plugins(root)
os.environ["PATH"] = dispatch.BENCH_PATH
port = dispatch_children.free_port()
cfg = dispatch_children.write_gateway_config(work / "gw", root, plugin, workers, port)
from ductile import dispatch as d  # noqa: E402
from ductile import dispatch_attempt as da  # noqa: E402
from ductile import executor  # noqa: E402
from ductile.store import sqlite as sq  # noqa: E402

acc = collections.Counter()
calls = collections.Counter()
on = [False]
stack = []


def wrap(owner, name, label):
    fn = getattr(owner, name)
    if hasattr(fn, "__wrapped_split__"):
        return

    @functools.wraps(fn)
    def inner(*a, **k):
        if not on[0]:
            return fn(*a, **k)
        t = time.thread_time()
        stack.append(0.0)
        try:
            return fn(*a, **k)
        finally:
            dt = time.thread_time() - t
            child = stack.pop()
            acc[label] += dt - child
            calls[label] += 1
            if stack:
                stack[-1] += dt

    inner.__wrapped_split__ = True
    setattr(owner, name, inner)


wrap(sq.SqliteStore, "finish_then_claim", "store: finish_then_claim tx (excl. start)")
wrap(sq.SqliteStore, "claim", "store: claim tx (excl. start)")
wrap(sq.SqliteStore, "finish", "store: finish tx")
wrap(d.Dispatcher, "_start", "start: the rest (context, Started, stamps)")
wrap(sq.SqliteStore, "get_state", "start: state read")
wrap(d.Dispatcher, "_request", "start: build request")
wrap(da, "spawn", "start: spawn (pipes + fork_exec)")
wrap(executor._Watch, "__init__", "supervise: register fds + write request")
wrap(executor._Watch, "_read_out", "supervise: read stdout")
wrap(executor._Watch, "_read_err", "supervise: read stderr")
wrap(executor._Watch, "_reap", "supervise: reap (waitpid)")
wrap(executor._Watch, "close_pipes", "supervise: close pipes")
wrap(da, "judge", "judge (parse response)")
wrap(d.Dispatcher, "_emit", "events: _emit (+hub, metrics)")
wrap(logging.Logger, "_log", "log lines")
wrap(d.Dispatcher, "_decide", "lifecycle decide")
import selectors  # noqa: E402

selects = [0]
_select = selectors.EpollSelector.select


def counting_select(self, timeout=None):
    if on[0]:
        selects[0] += 1
    return _select(self, timeout)


selectors.EpollSelector.select = counting_select  # loop iterations (wake-ups) per job
calls_patch = [0]
orig = dispatch_children.cpu_seconds


loop_thread = [0.0]


def patched():
    calls_patch[0] += 1
    on[0] = calls_patch[0] == 1
    loop_thread[0] = time.thread_time() - loop_thread[0]  # called on the event loop's thread
    return orig()


dispatch_children.cpu_seconds = patched
out = dispatch_children.child_gateway(
    {"config": str(cfg), "jobs": jobs, "instance": plugin, "workers": workers, "port": port}
)
total = out["cpu_s"] * 1e6 / jobs
print(
    f"total process CPU/job {total:.0f} us; load {os.getloadavg()[0]:.1f}; {jobs / out['seconds']:.1f} jobs/s; "
    f"{selects[0] / jobs:.1f} event-loop wake-ups/job"
)
print(
    f"  event-loop thread {loop_thread[0] * 1e6 / jobs:.0f} us/job, other threads {total - loop_thread[0] * 1e6 / jobs:.0f}"
)
named = 0
for label, v in sorted(acc.items(), key=lambda kv: -kv[1]):
    print(
        f"  {v * 1e6 / jobs:7.1f} us/job  {v * 1e6 / jobs / total:5.1%}  {label}  ({calls[label] / jobs:.2f} calls/job)"
    )
    named += v
print(f"  {total - named * 1e6 / jobs:7.1f} us/job  rest (event loop, tasks, futures, record, routing, other threads)")
shutil.rmtree(work, ignore_errors=True)
