"""A gateway's background CPU per second with nothing to do, and who spends it.

    .venv/bin/python bench/idle_cpu.py [--seconds 20] [--schedules 0,200] [--before-src DIR]

Each measurement is a fresh child process running the full-queue gateway of `bench/dispatch.py`
(API on loopback, JSON logging, the `benchsh` and `hold` instances) with no job to run, plus
`--schedules` instances on `every: 1h` (each fires once at start; the measurement begins 2 s after
those jobs are done, so nothing fires during it, but the schedule-health watcher judges every
entry each round). It records, over `--seconds`:

* the process's CPU (user+sys) per second, and each thread's (``/proc/self/task/*/stat``);
* on the event-loop thread, the CPU (``time.thread_time``) of every callback and task step the
  loop runs, grouped by task name / callback, and the number of loop iterations (wake-ups).

`--poll` adds the benchmark's own 10 Hz `status_counts` poll (the throughput child does it).
With `--before-src` each configuration also runs the gateway importing ductile from that
directory, side by side (order alternates), with the 1-minute load average beside each figure.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def _thread_cpu() -> dict[str, float]:
    """CPU seconds of the event-loop (main) thread and of the other threads (utime+stime from /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = collections.Counter()
    for task in Path("/proc/self/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue
        name = "event loop (main)" if task.name == str(os.getpid()) else "other threads"
        fields = stat[stat.rindex(")") + 2 :].split()
        out[name] += (int(fields[11]) + int(fields[12])) / tick
    return out


def _label(handle: Any) -> str:
    callback = getattr(handle, "_callback", None)
    owner = getattr(callback, "__self__", None)
    if isinstance(owner, asyncio.Task):
        coro = owner.get_coro()
        return f"task {owner.get_name()} ({getattr(coro, '__qualname__', coro)})"
    if isinstance(owner, asyncio.Future):
        return "future callback"
    name = getattr(callback, "__qualname__", None) or repr(callback)
    return f"callback {name}"


def child(spec: dict[str, Any]) -> dict[str, Any]:
    """Run the idle gateway in this process and measure it (see the module docstring)."""
    import dispatch_children

    per_label: collections.Counter[str] = collections.Counter()
    counts: collections.Counter[str] = collections.Counter()
    measuring = [False]
    original_run = asyncio.events.Handle._run

    def timed_run(self: Any) -> None:
        if not measuring[0]:
            return original_run(self)
        started = time.thread_time()
        try:
            return original_run(self)
        finally:
            label = _label(self)
            per_label[label] += time.thread_time() - started
            counts[label] += 1

    asyncio.events.Handle._run = timed_run  # type: ignore[method-assign]
    gateway = dispatch_children._start_gateway(spec["config"])
    iterations = [0]

    async def main() -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        selector = loop._selector  # type: ignore[attr-defined]
        original_select = selector.select

        def counting_select(timeout: float | None = None) -> Any:
            if measuring[0]:
                iterations[0] += 1
            return original_select(timeout)

        selector.select = counting_select
        ready = asyncio.Event()
        running = asyncio.create_task(gateway.run(ready=ready))
        await ready.wait()
        poller = None
        if spec["poll"]:

            async def poll() -> None:
                while True:
                    gateway.store.status_counts()
                    await asyncio.sleep(0.1)

            poller = asyncio.create_task(poll(), name="bench poll")
        while True:  # a schedule never seen before fires at once: let those jobs run first
            counts_now = gateway.store.status_counts()
            if counts_now["queued"] == 0 and counts_now["running"] == 0:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(2.0)
        threads_before = _thread_cpu()
        cpu = dispatch_children.cpu_seconds()
        wall = time.perf_counter()
        measuring[0] = True
        await asyncio.sleep(spec["seconds"])
        measuring[0] = False
        wall = time.perf_counter() - wall
        cpu = dispatch_children.cpu_seconds() - cpu
        threads_after = _thread_cpu()
        if poller is not None:
            poller.cancel()
        counts_now = gateway.store.status_counts()
        gateway.stop_event.set()
        await running
        return {
            "jobs": {k: v for k, v in counts_now.items() if v},
            "wall_s": wall,
            "cpu_ms_per_s": cpu * 1000 / wall,
            "threads_ms_per_s": {
                name: (threads_after[name] - threads_before.get(name, 0.0)) * 1000 / wall
                for name in threads_after
                if threads_after[name] - threads_before.get(name, 0.0) > 0
            },
            "loop_ms_per_s": {k: v * 1000 / wall for k, v in per_label.most_common()},
            "loop_calls_per_s": {k: counts[k] / wall for k in per_label},
            "iterations_per_s": iterations[0] / wall,
        }

    return asyncio.run(main())


def write_config(directory: Path, plugin_root: Path, schedules: int, port: int) -> Path:
    """The throughput child's config plus `schedules` instances on `every: 1h`."""
    import yaml
    from dispatch_children import write_gateway_config

    write_gateway_config(directory, plugin_root, "benchsh", 1, port)
    config = yaml.safe_load((directory / "config.yaml").read_text())
    for i in range(schedules):
        config["plugins"][f"tick{i:03d}"] = {"uses": "benchsh", "schedules": [{"every": "1h"}]}
    (directory / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return directory


def run_child(spec: dict[str, Any], src: str | None) -> dict[str, Any]:
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src
    out = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)],
        env=env,
        cwd=spec["config"],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"child failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--schedules", default="0,200", help="schedule counts to measure (default 0,200)")
    parser.add_argument("--poll", action="store_true", help="add the throughput bench's 10 Hz status_counts poll")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--before-src", help="also run a gateway importing ductile from this src/ directory")
    parser.add_argument("--top", type=int, default=8, help="loop callbacks to list per run")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return
    import dispatch
    from dispatch_children import free_port, load_average

    work = Path(tempfile.mkdtemp(prefix="idle-cpu-"))
    plugin_root = work / "plugins"
    dispatch.write_plugins(plugin_root)
    os.environ["PATH"] = dispatch.BENCH_PATH
    sides: list[tuple[str, str | None]] = [("after", None)]
    if args.before_src:
        sides.append(("before", str(Path(args.before_src).resolve())))
    print(f"idle gateway CPU, {args.seconds:g} s per run, poll={'on' if args.poll else 'off'}")
    n = 0
    for rep in range(args.repeat):
        for schedules in [int(s) for s in args.schedules.split(",")]:
            order = sides if rep % 2 == 0 else sides[::-1]
            for side, src in order:
                n += 1
                cfg = write_config(work / f"gw{n}", plugin_root, schedules, free_port())
                load = load_average()
                out = run_child({"config": str(cfg), "seconds": args.seconds, "poll": args.poll}, src)
                threads = ", ".join(f"{k} {v:.2f}" for k, v in sorted(out["threads_ms_per_s"].items()))
                print(
                    f"  {side:6s} schedules={schedules:4d}: {out['cpu_ms_per_s']:6.2f} ms CPU/s, "
                    f"{out['iterations_per_s']:6.1f} loop wake-ups/s  [load {load}]\n"
                    f"         threads (ms/s): {threads}; loop callbacks {sum(out['loop_ms_per_s'].values()):.2f}; "
                    f"jobs in the store: {out['jobs']}"
                )
                for label, ms in list(out["loop_ms_per_s"].items())[: args.top]:
                    calls = out["loop_calls_per_s"][label]
                    print(f"         {ms:7.3f} ms/s  {calls:7.1f}/s  {label}")


if __name__ == "__main__":
    main()
