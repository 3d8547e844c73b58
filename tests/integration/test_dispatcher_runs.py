"""Dispatcher + executor with real plugin processes: timeouts that kill the whole process group,
retries with growing backoff, state across restarts, parallelism and FIFO."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from conftest import make_plugin, wait_for

from ductile.dispatch import recover
from ductile.gateway import Gateway
from ductile.lifecycle import Status
from ductile.timeutil import from_text, utcnow

from .conftest import alive

# -- timeouts ---------------------------------------------------------------------------------


def sleeper_script(pid_file: Path) -> str:
    # The plugin records its own pid, forks a child that ignores SIGTERM (so only SIGKILL of the
    # group gets it) and a grandchild, then sleeps far past its timeout.
    return f"""\
        #!/usr/bin/env bash
        cat >/dev/null
        echo "$$" >> {pid_file}
        ( trap '' TERM; sleep 300 & echo "$!" >> {pid_file}; wait ) &
        echo "$!" >> {pid_file}
        sleep 300 &
        echo "$!" >> {pid_file}
        wait
        """


async def test_timeout_kills_the_whole_process_group_and_ends_timed_out(rig, tmp_path):
    pid_file = tmp_path / "pids"
    make_plugin(tmp_path / "plugins", "sleeper", sleeper_script(pid_file))
    r = rig({"sleeper": {"timeouts": {"poll": "500ms"}, "retry": {"max_attempts": 2, "backoff_base": "100ms"}}})
    job, attempts = await r.run_one("sleeper")
    assert job.status is Status.TIMED_OUT
    assert job.attempt == 2 and [a.attempt for a in attempts] == [1, 2]
    assert [a.outcome for a in attempts] == ["timeout", "timeout"]
    assert [a.status for a in attempts] == ["queued", "timed_out"]
    assert job.last_error == (
        "plugin still running after its 0.5s timeout; process group killed (attempt 2 of 2; retries exhausted)"
    )
    pids = [int(p) for p in pid_file.read_text().split()]
    assert len(pids) == 8  # 4 processes per attempt, two attempts
    # nothing of it is left: plugin, child (which ignored SIGTERM), grandchild, backgrounded sleep
    wait_for(lambda: not any(alive(p) for p in pids), timeout=10, message="plugin processes to be gone")
    assert [p for p in pids if alive(p)] == []


async def test_a_result_that_arrived_before_the_kill_wins(rig, tmp_path):
    # the plugin answers, then lingers (a child keeps stdout open): the answer counts
    script = """\
        #!/usr/bin/env bash
        cat >/dev/null
        echo '{"status":"ok","result":"answered in time"}'
        sleep 300
        """
    make_plugin(tmp_path / "plugins", "lingerer", script)
    r = rig({"lingerer": {"timeouts": {"poll": "500ms"}, "retry": {"max_attempts": 1}}})
    job, [attempt] = await r.run_one("lingerer")
    assert job.status is Status.SUCCEEDED
    assert attempt.response["result"] == "answered in time"


# -- retries ----------------------------------------------------------------------------------

FAILING = """\
    #!/usr/bin/env bash
    cat >/dev/null
    echo '{"status":"error","error":"upstream said 503"}'
    """


async def test_retries_increment_attempt_with_growing_backoff_then_failed(rig, tmp_path):
    make_plugin(tmp_path / "plugins", "flaky", FAILING)
    r = rig({"flaky": {"retry": {"max_attempts": 4, "backoff_base": "100ms"}}})
    job, attempts = await r.run_one("flaky")
    assert job.status is Status.FAILED
    assert job.attempt == 4 and [a.attempt for a in attempts] == [1, 2, 3, 4]
    assert [a.status for a in attempts] == ["queued", "queued", "queued", "failed"]
    assert job.last_error == "upstream said 503 (attempt 4 of 4; retries exhausted)"
    transitions = r.store.transitions(job.job_id)
    assert [(t.from_status, t.to_status) for t in transitions] == [
        (None, "queued"),
        *[("queued", "running"), ("running", "queued")] * 3,
        ("queued", "running"),
        ("running", "failed"),
    ]
    # each retry records when the next attempt is due; the delay doubles (draw pinned to 0). It is
    # counted from the decision, a moment before the transition is stamped at commit: on a busy
    # machine that moment can pass a millisecond, so the delay read back may be a little short.
    delays = []
    for t in transitions:
        if t.to_status == "queued" and t.from_status == "running":
            due = re.search(r"retry as attempt \d+ at (\S+)$", t.reason).group(1)
            delays.append(round((from_text(due) - from_text(t.at)).total_seconds(), 3))
    assert len(delays) == 3
    for delay, expected in zip(delays, [0.1, 0.2, 0.4], strict=True):
        assert expected - 0.05 <= delay <= expected, delays
    # and the dispatcher honoured them: no attempt started before its due time
    for previous, current, delay in zip(attempts[:-1], attempts[1:], delays, strict=True):
        gap = (from_text(current.started_at) - from_text(previous.completed_at)).total_seconds()
        assert gap >= delay - 0.01


async def test_retry_false_fails_on_attempt_one(rig, tmp_path):
    script = """\
        #!/usr/bin/env python3
        import json, sys
        sys.stdin.read()
        print(json.dumps({"status": "error", "error": "bad credentials", "retry": False}))
        """
    make_plugin(tmp_path / "plugins", "norety", script)
    r = rig({"norety": {"retry": {"max_attempts": 5, "backoff_base": "100ms"}}})
    job, attempts = await r.run_one("norety")
    assert job.status is Status.FAILED
    assert job.attempt == 1 and len(attempts) == 1
    assert job.last_error == "bad credentials"
    assert r.store.transitions(job.job_id)[-1].reason == "attempt 1 fatal: bad credentials"


async def test_a_job_that_recovers_on_retry_succeeds(rig, tmp_path):
    marker = tmp_path / "second-time"
    script = f"""\
        #!/usr/bin/env bash
        cat >/dev/null
        if [ -e {marker} ]; then echo '{{"status":"ok","result":"fine now"}}'; exit 0; fi
        touch {marker}
        echo '{{"status":"error","error":"first try fails"}}'
        """
    make_plugin(tmp_path / "plugins", "second", script)
    r = rig({"second": {"retry": {"max_attempts": 3, "backoff_base": "100ms"}}})
    job, attempts = await r.run_one("second")
    assert job.status is Status.SUCCEEDED and job.attempt == 2
    assert [a.outcome for a in attempts] == ["error", "success"]


# -- state ------------------------------------------------------------------------------------

COUNTER = """\
    #!/usr/bin/env python3
    import json, sys
    request = json.load(sys.stdin)
    n = request["state"].get("n", 0) + 1
    print(json.dumps({"status": "ok", "result": {"saw": request["state"], "n": n}, "state_updates": {"n": n}}))
    """


async def test_state_counter_counts_1_2_3_across_a_restart(rig, tmp_path):
    make_plugin(tmp_path / "plugins", "counter", COUNTER)
    r = rig({"counter": {}})
    seen = []
    for _ in range(2):
        _, [attempt] = await r.run_one("counter")
        seen.append(attempt.response["result"]["n"])
    r.reopen()  # a new process on the same database file
    _, [attempt] = await r.run_one("counter")
    seen.append(attempt.response["result"]["n"])
    assert seen == [1, 2, 3]
    assert attempt.response["result"]["saw"] == {"n": 2}
    assert r.store.get_state("counter") == {"n": 3}


# -- recovery ---------------------------------------------------------------------------------


async def test_drain_leaves_a_running_job_for_recovery_which_requeues_it(rig, tmp_path):
    started = tmp_path / "started"
    script = f"""\
        #!/usr/bin/env bash
        cat >/dev/null
        echo "$$" >> {started}
        if [ "$(wc -l < {started})" -ge 2 ]; then echo '{{"status":"ok","result":"second run"}}'; exit 0; fi
        sleep 300
        """
    make_plugin(tmp_path / "plugins", "long", script)
    r = rig({"long": {"retry": {"max_attempts": 3}}})
    job_id = r.submit("long")
    stop = asyncio.Event()
    task = asyncio.create_task(r.dispatcher.run(stop))
    for _ in range(400):
        if started.exists():
            break
        await asyncio.sleep(0.025)
    stop.set()
    await task
    left = await r.dispatcher.drain(0.2)
    assert left == 1
    job = r.store.get_job(job_id)
    assert job.status is Status.RUNNING  # never marked done by a drain
    first_pid = int(started.read_text().split()[0])
    wait_for(lambda: not alive(first_pid), timeout=10, message="drained plugin to be killed")
    r.reopen()
    [recovered] = recover(r.store, r.setup.registry, now=utcnow())
    assert (recovered.status, recovered.attempt) == (Status.QUEUED, 2)
    [done] = await r.run_until_done([job_id])
    assert (done.status, done.attempt) == (Status.SUCCEEDED, 2)
    attempts = r.store.attempts(job_id)
    assert [a.outcome for a in attempts] == ["abandoned", "success"]
    assert "gateway stopped while attempt 1 was running" in attempts[0].error


# -- concurrency ------------------------------------------------------------------------------


def rendezvous_script(directory: Path, want: int, patience: float = 3.0) -> str:
    """Each run marks itself running, waits (bounded) until `want` runs are running at once,
    records the highest number it saw, and unmarks itself."""
    return f"""\
        #!/usr/bin/env python3
        import json, os, sys, time
        request = json.load(sys.stdin)
        d = {str(directory)!r}
        mine = os.path.join(d, "running." + request["job_id"])
        open(mine, "w").close()
        most = 0
        deadline = time.monotonic() + {patience}
        while time.monotonic() < deadline:
            most = max(most, len([n for n in os.listdir(d) if n.startswith("running.")]))
            if most >= {want}:
                break
            time.sleep(0.02)
        time.sleep(0.1)
        most = max(most, len([n for n in os.listdir(d) if n.startswith("running.")]))
        os.remove(mine)
        with open(os.path.join(d, "order"), "a") as f:
            f.write(request["payload"]["n"].__str__() + "\\n")
        print(json.dumps({{"status": "ok", "result": {{"most": most}}}}))
        """


async def run_batch(r, instance: str, n: int):
    ids = [r.submit(instance, payload={"n": i}) for i in range(n)]
    jobs = await r.run_until_done(ids, timeout=60)
    assert all(j.status is Status.SUCCEEDED for j in jobs), [j.last_error for j in jobs]
    return [r.store.attempts(i)[0].response["result"]["most"] for i in ids]


async def test_parallel_instance_runs_jobs_at_once(rig, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    make_plugin(tmp_path / "plugins", "par", rendezvous_script(work, want=2))
    r = rig({"par": {"parallelism": 2}}, max_workers=3)
    most = await run_batch(r, "par", 4)
    assert max(most) == 2  # two at once, never three (parallelism 2 although max_workers is 3)


async def test_concurrency_unsafe_plugin_runs_serially_in_fifo_order(rig, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    make_plugin(
        tmp_path / "plugins", "serial", rendezvous_script(work, want=2, patience=0.5), extra={"concurrency_safe": False}
    )
    r = rig({"serial": {"parallelism": 4}}, max_workers=4)  # the manifest wins over the config
    assert r.setup.registry.get("serial").parallelism == 1
    most = await run_batch(r, "serial", 3)
    assert most == [1, 1, 1]
    assert (work / "order").read_text().split() == ["0", "1", "2"]


async def test_max_workers_caps_all_instances_together(rig, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    make_plugin(tmp_path / "plugins", "a", rendezvous_script(work, want=3, patience=0.7))
    r = rig({"a": {}, "b": {"uses": "a"}}, max_workers=2)
    ids = [r.submit(name, payload={"n": i}) for i, name in enumerate(["a", "b", "a", "b"])]
    jobs = await r.run_until_done(ids, timeout=60)
    most = [r.store.attempts(j.job_id)[0].response["result"]["most"] for j in jobs]
    assert max(most) == 2


def test_recovery_that_gives_up_publishes_ductiles_job_failed_with_recovery_true(rig, tmp_path):
    """A job left running with no attempts left ends `dead` at start-up, and a Ductile client on
    /events sees `job.failed {..., recovery: true}` for it (ductile-compat A14)."""
    make_plugin(
        tmp_path / "plugins", "once", '#!/usr/bin/env bash\ncat >/dev/null\necho \'{"status":"ok","result":"x"}\'\n'
    )
    r = rig({"once": {"retry": {"max_attempts": 1}}})
    job_id = r.submit("once")
    claimed = r.store.claim(now=utcnow())
    assert claimed is not None and claimed.job_id == job_id  # running, as a kill -9'd gateway leaves it
    r.close()
    gateway = Gateway(r.setup, api=False)
    gateway.open()
    try:
        assert gateway.store is not None and gateway.store.get_job(job_id).status is Status.DEAD
        events, _ = gateway.hub.replay_since(0)
        [failed] = [e for e in events if e.type == "job.failed"]
        assert failed.data["job_id"] == job_id and failed.data["recovery"] is True
        assert failed.data["error"] == "Job marked dead during crash recovery: max attempts (1) reached"
    finally:
        gateway.close()
        r.open()
