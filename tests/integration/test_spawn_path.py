"""The spawn path (issue 11): `executor.spawn` + `supervise` with real plugin processes, and the
dispatcher's spawn inside the claim transaction.

Each test uses a plugin that misbehaves in one way the raw-fd pipe handling must survive: never
reading stdin, flooding stdout, a timeout while a large request is still being written, and 200
short jobs ending at once (a burst of exits, each reaped through its pidfd).
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import os
import textwrap
from pathlib import Path

import pytest
from conftest import make_plugin, wait_for

from ductile import fdwatch
from ductile.executor import discard, run_plugin, spawn, supervise
from ductile.lifecycle import Status
from ductile.protocol import STDOUT_LIMIT

from .conftest import alive

ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}


def script(tmp_path: Path, text: str, name: str = "run") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    path.chmod(0o755)
    return path


def open_fds() -> set[str]:
    """This process's open fds, after closing what earlier tests on this worker left to close.

    Garbage from an earlier test (a store, a loop) and the fd set of a loop closed mid-job are
    closed here first, so they cannot close during the test and look like a change; the tests
    then assert nothing new is open (a subset), which is what a leak would break.
    """
    gc.collect()
    fdwatch._drop_closed_loops()
    return set(os.listdir("/proc/self/fd"))


def zombies_of_this_process() -> list[int]:
    me = str(os.getpid())
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me and fields[0] == "Z":
            out.append(int(entry))
    return out


async def test_a_plugin_that_never_reads_stdin_still_answers(tmp_path):
    # 1 MiB of request into a 64 KiB pipe that nobody reads: the write must not block the loop or
    # the result; the plugin answers and exits, the unwritten rest is dropped (EPIPE).
    entry = script(
        tmp_path,
        """\
        #!/usr/bin/env bash
        printf '%s\\n' '{"status":"ok","result":"ignored my input"}'
        """,
    )
    before = open_fds()
    run = await run_plugin(entry, b"x" * (1024 * 1024) + b"\n", cwd=tmp_path, env=ENV, timeout=20)
    assert run.exit_code == 0 and not run.timed_out
    assert run.stdout == b'{"status":"ok","result":"ignored my input"}\n'
    assert open_fds() <= before  # every pipe end closed, the pidfd too


async def test_a_plugin_flooding_stdout_keeps_the_first_10_mib_and_is_not_blocked(tmp_path):
    # 12 MiB on stdout, then a normal exit: the reader keeps draining past the cap (the plugin
    # would block on a full pipe otherwise) and holds the first STDOUT_LIMIT bytes.
    entry = script(
        tmp_path,
        """\
        #!/usr/bin/env bash
        cat >/dev/null
        head -c 12582912 /dev/zero | tr '\\0' 'a'
        echo "done" >&2
        """,
    )
    run = await run_plugin(entry, b"{}\n", cwd=tmp_path, env=ENV, timeout=60)
    assert not run.timed_out and run.exit_code == 0
    assert run.stdout_overflow
    assert len(run.stdout) == STDOUT_LIMIT and set(run.stdout) == {ord("a")}
    assert run.stderr == "done\n"


async def test_a_timeout_during_a_large_write_kills_the_group(tmp_path):
    # The plugin reads nothing and sleeps: the 4 MiB request is stuck in the pipe when the
    # timeout fires; SIGTERM is ignored, so SIGKILL after the grace ends it; nothing is left.
    pid_file = tmp_path / "pids"
    entry = script(
        tmp_path,
        f"""\
        #!/usr/bin/env bash
        trap '' TERM
        echo "$$" >> {pid_file}
        sleep 300 &
        echo "$!" >> {pid_file}
        wait
        """,
    )
    before = open_fds()
    run = await run_plugin(entry, b"y" * (4 * 1024 * 1024), cwd=tmp_path, env=ENV, timeout=0.5, kill_grace=0.3)
    assert run.timed_out and run.exit_code is None
    pids = [int(p) for p in pid_file.read_text().split()]
    assert len(pids) == 2
    wait_for(lambda: not any(alive(p) for p in pids), timeout=10, message="the plugin's group to be gone")
    assert open_fds() <= before


async def test_a_stderr_flood_keeps_the_tail(tmp_path):
    entry = script(
        tmp_path,
        """\
        #!/usr/bin/env bash
        head -c 200000 /dev/zero | tr '\\0' 'e' >&2
        echo "LAST" >&2
        printf '%s\\n' '{"status":"ok"}'
        """,
    )
    run = await run_plugin(entry, b"{}\n", cwd=tmp_path, env=ENV, timeout=20)
    assert run.stderr_truncated and run.stderr.endswith("eLAST\n") and len(run.stderr) == 65536


async def test_cancelling_supervise_kills_the_group_and_reaps_the_leader(tmp_path):
    entry = script(tmp_path, "#!/usr/bin/env bash\nsleep 300\n")
    child = spawn(entry, cwd=tmp_path, env=ENV)
    task = asyncio.create_task(supervise(child, b"{}\n", timeout=60))
    await asyncio.sleep(0.2)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    # the leader is reaped through its pidfd once the SIGKILL lands: no zombie, no process
    for _ in range(200):
        if child.returncode is not None:
            break
        await asyncio.sleep(0.02)
    assert child.returncode == -9
    assert not alive(child.pid)


def test_discard_kills_and_reaps_a_child_whose_claim_did_not_commit(tmp_path):
    entry = script(tmp_path, "#!/usr/bin/env bash\nsleep 300\n")
    child = spawn(entry, cwd=tmp_path, env=ENV)
    discard(child)
    assert child.returncode == -9
    assert not alive(child.pid)


async def test_200_short_jobs_ending_together_are_all_reaped_and_recorded(rig, tmp_path):
    # A burst of exits (many SIGCHLDs at once): every job ends succeeded with its own answer, no
    # zombie and no leaked fd remains, and every attempt carries its plugin's pid (written in the
    # claim's transaction).
    make_plugin(
        tmp_path / "plugins",
        "blip",
        """\
        #!/usr/bin/env bash
        read -r request
        printf '{"status":"ok","result":"%s"}\\n' "${#request}"
        """,
    )
    r = rig({"blip": {"parallelism": 8}}, max_workers=8)
    ids = [r.submit("blip") for _ in range(200)]
    before = open_fds()
    jobs = await r.run_until_done(ids, timeout=120)
    assert [j.status for j in jobs] == [Status.SUCCEEDED] * 200
    attempts = [r.store.attempts(j) for j in ids]
    assert all(len(a) == 1 and a[0].outcome == "success" for a in attempts)
    pids = r.store._read("SELECT pid FROM attempts")
    assert len({row[0] for row in pids}) == 200 and all(row[0] for row in pids)
    # Only the plugins' pids count: another test on the same xdist worker may leave its own child
    # (e.g. a subprocess it has not waited for yet) as a zombie of this process.
    assert set(zombies_of_this_process()) & {row[0] for row in pids} == set()
    assert open_fds() <= before


async def test_a_spawn_failure_is_recorded_with_the_attempt_and_no_pid(rig, tmp_path):
    entry = make_plugin(tmp_path / "plugins", "broken", "#!/nonexistent/interpreter\n")
    assert entry.exists()
    r = rig({"broken": {"retry": {"max_attempts": 1}}})
    job, attempts = await r.run_one("broken")
    assert job.status is Status.FAILED
    assert "could not start" in (attempts[-1].error or "")
    assert [row[0] for row in r.store._read("SELECT pid FROM attempts")] == [None] * len(attempts)


async def test_the_pid_is_recorded_with_the_claim_while_the_plugin_runs(rig, tmp_path):
    # Crash recovery needs the pid of a running attempt: it is in the row the claim committed.
    release, pid_file = tmp_path / "release", tmp_path / "pid"
    make_plugin(
        tmp_path / "plugins",
        "waiter",
        f"""\
        #!/usr/bin/env bash
        echo "$$" > {pid_file}
        while [ ! -e {release} ]; do sleep 0.02; done
        printf '%s\\n' '{{"status":"ok","result":"released"}}'
        """,
    )
    r = rig({"waiter": {}})
    job_id = r.submit("waiter")
    stop = asyncio.Event()
    task = asyncio.create_task(r.dispatcher.run(stop))
    try:
        for _ in range(1000):
            if pid_file.exists() and pid_file.read_text().strip():
                break
            await asyncio.sleep(0.02)
        assert r.store.running_pids() == {job_id: int(pid_file.read_text())}
        release.touch()
        for _ in range(1000):
            job = r.store.get_job(job_id)
            if job is not None and job.status is Status.SUCCEEDED:
                break
            await asyncio.sleep(0.02)
        assert r.store.get_job(job_id).status is Status.SUCCEEDED, r.store.attempts(job_id)
    finally:
        release.touch()
        stop.set()
        await task
        await r.dispatcher.drain(5.0)


async def test_a_job_cancelled_before_its_task_ran_has_its_plugin_killed(rig, tmp_path):
    # The plugin is spawned inside the claim; if the job's task is cancelled before it starts
    # (drain or cancel right after the claim), the spawned process must not be left behind.
    make_plugin(tmp_path / "plugins", "lingerer", "#!/usr/bin/env bash\nsleep 300\n")
    r = rig({"lingerer": {}})
    job_id = r.submit("lingerer")
    await r.dispatcher._fill()  # claim and spawn, without letting the job's task run
    pid = r.store.running_pids()[job_id]
    [task] = list(r.dispatcher.running.values())
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert not alive(pid)


async def test_a_busy_worker_finishes_one_job_and_claims_the_next_in_one_transaction(rig, tmp_path):
    # max_workers 1 and a queue of 12: after the first claim, each job is claimed in the
    # transaction that finished the one before it (finish_then_claim), so its running transition
    # carries the very stamp of the previous job's end; the request it was spawned with already
    # holds the state that finish wrote, and its pid is on its attempt row.
    make_plugin(
        tmp_path / "plugins",
        "counter",
        """\
        #!/usr/bin/env python3
        import json, os, sys
        request = json.loads(sys.stdin.readline())
        n = request["state"].get("n", 0) + 1
        print(json.dumps({"status": "ok", "result": {"n": n, "pid": os.getpid()}, "state_updates": {"n": n}}))
        """,
    )
    r = rig({"counter": {}}, max_workers=1)
    ids = [r.submit("counter") for _ in range(12)]
    jobs = await r.run_until_done(ids, timeout=120)
    assert [j.status for j in jobs] == [Status.SUCCEEDED] * 12
    assert r.store.get_state("counter") == {"n": 12}
    results = [r.store.attempts(j)[0] for j in ids]
    assert [a.response["result"]["n"] for a in results] == list(range(1, 13))
    pids = dict(r.store._read("SELECT job_id, pid FROM attempts"))
    assert [pids[j] for j in ids] == [a.response["result"]["pid"] for a in results]
    for previous, job in itertools.pairwise(jobs):
        assert job.started_at == previous.completed_at, (previous.job_id, job.job_id)


async def test_concurrent_children_share_one_fd_set_that_closes_when_the_last_one_ends(tmp_path):
    # Every child's pipes and pidfd sit in the loop's one epoll set (fdwatch.py): with several
    # children at once there is exactly one such set, each child's output stays its own, and
    # when the last child is done the set is closed — no fd outlives the jobs.

    entry = script(
        tmp_path,
        """\
        #!/usr/bin/env bash
        read -r n
        sleep 0.$((RANDOM % 3))
        printf '{"status":"ok","result":"%s"}\\n' "$n"
        echo "err $n" >&2
        """,
    )
    before = open_fds()
    loop = asyncio.get_running_loop()
    children = [spawn(entry, cwd=tmp_path, env=ENV) for _ in range(6)]
    runs = [asyncio.ensure_future(supervise(c, b"%d\n" % i, timeout=20)) for i, c in enumerate(children)]
    await asyncio.sleep(0)
    # (only this loop's set counts: another test's loop closed mid-job may still be swept later)
    assert len(fdwatch._SETS[loop]) == 3 * 6  # stdout, stderr, pidfd each
    results = await asyncio.gather(*runs)
    for i, run in enumerate(results):
        assert run.exit_code == 0 and run.stdout == b'{"status":"ok","result":"%d"}\n' % i
        assert run.stderr == f"err {i}\n"
    assert loop not in fdwatch._SETS
    assert open_fds() <= before


async def test_a_finished_job_publishes_succeeded_and_completed_with_the_same_fields(rig, tmp_path):
    make_plugin(
        tmp_path / "plugins",
        "quick",
        """\
        #!/usr/bin/env bash
        cat >/dev/null
        printf '%s\\n' '{"status":"ok","result":"done"}'
        """,
    )
    r = rig({"quick": {}})
    sub = r.dispatcher.hub.subscribe()
    job, _ = await r.run_one("quick")
    assert job.status is Status.SUCCEEDED
    events = {e.type: e.data for e in sub.drain(100)}
    assert events["job.started"]["status"] == "running"
    expected = {
        "job_id": job.job_id,
        "plugin": "quick",
        "command": "poll",
        "status": "succeeded",
        "attempt": 1,
        "submitted_by": "cli",
        "duration_ms": events["job.succeeded"]["duration_ms"],
    }
    assert list(events["job.succeeded"].items()) == list(expected.items())
    assert list(events["job.completed"].items()) == list(expected.items())


async def test_the_dispatcher_holds_the_fd_set_open_while_it_runs_and_releases_it(rig, tmp_path):
    # With one worker every job's watch ends before the next one starts; the run loop's hold
    # keeps one set for all of them instead of making and closing one per job.

    make_plugin(
        tmp_path / "plugins",
        "quick",
        """\
        #!/usr/bin/env bash
        cat >/dev/null
        printf '%s\\n' '{"status":"ok","result":"done"}'
        """,
    )
    r = rig({"quick": {}}, max_workers=1)
    loop = asyncio.get_running_loop()
    before = open_fds()
    stop = asyncio.Event()
    task = asyncio.create_task(r.dispatcher.run(stop))
    await asyncio.sleep(0.05)
    held = fdwatch._SETS[loop]
    assert len(held) == 0  # nothing watched yet, but open
    ids = [r.submit("quick") for _ in range(3)]
    r.dispatcher.wake()
    wait_until = loop.time() + 30
    while any(r.store.get_job(i).status is not Status.SUCCEEDED for i in ids) and loop.time() < wait_until:
        await asyncio.sleep(0.02)
    assert fdwatch._SETS[loop] is held  # the same set served every job
    stop.set()
    await task
    await r.dispatcher.drain(5.0)
    assert loop not in fdwatch._SETS
    assert open_fds() <= before


async def test_without_epoll_each_fd_is_registered_with_the_loop_instead(tmp_path, monkeypatch):
    # Not Linux: fdwatch falls back to loop.add_reader per fd; output, caps and cleanup are the same.

    monkeypatch.setattr(fdwatch, "_HAS_EPOLL", False)
    entry = script(
        tmp_path,
        """\
        #!/usr/bin/env bash
        read -r line
        printf '{"status":"ok","result":"%s"}\\n' "$line"
        echo "to stderr" >&2
        """,
    )
    before = open_fds()
    run = await run_plugin(entry, b"hello\n", cwd=tmp_path, env=ENV, timeout=20)
    assert run.exit_code == 0 and run.stdout == b'{"status":"ok","result":"hello"}\n'
    assert run.stderr == "to stderr\n"
    assert asyncio.get_running_loop() not in fdwatch._SETS
    assert open_fds() <= before


def test_a_set_left_open_by_a_closed_loop_is_closed_when_the_next_set_is_made():
    # A loop torn down while a child's fds were still watched never reaches the last `remove`:
    # its epoll fd must not stay open for the life of the process (the CI failure of stop 18 was
    # such a set, left by an earlier test in the same worker).

    if not fdwatch._HAS_EPOLL:
        pytest.skip("the per-loop epoll set exists only on Linux")
    read_end, write_end = os.pipe()
    try:
        old = asyncio.new_event_loop()
        stale = fdwatch.fd_set(old)
        stale.add(read_end, lambda: None)
        old.close()  # closed with the fd still watched
        assert old in fdwatch._SETS
        stale_fd = stale.fileno

        async def make_another() -> None:
            loop = asyncio.get_running_loop()
            fdwatch.hold(loop).release(loop)

        asyncio.run(make_another())
        assert old not in fdwatch._SETS
        with pytest.raises(OSError):
            os.fstat(stale_fd)  # the stale epoll fd was closed
    finally:
        os.close(read_end)
        os.close(write_end)
