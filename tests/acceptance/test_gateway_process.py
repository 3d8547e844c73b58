"""The real `ductile` CLI as subprocesses: crash recovery after kill -9, the database lock,
the scheduler across a restart, and `plugin run --wait`."""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import sqlite3
import subprocess
from datetime import datetime
from pathlib import Path

import pytest
from conftest import DUCTILE, base_config, make_plugin, wait_for

from ductile.timeutil import from_text

pytestmark = pytest.mark.slow


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DUCTILE, *args], capture_output=True, text=True, timeout=timeout, env=os.environ.copy())


def rows(db: Path, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
    if not db.exists():
        return []
    con = sqlite3.connect(db, timeout=10)
    con.row_factory = sqlite3.Row
    try:
        return con.execute(sql, params).fetchall()
    except sqlite3.OperationalError:
        return []  # not created yet
    finally:
        con.close()


def jobs(db: Path, plugin: str) -> list[sqlite3.Row]:
    return rows(db, "SELECT * FROM jobs WHERE plugin = ? ORDER BY created_at", (plugin,))


def process_alive(pid: int) -> bool:
    """Exists and is not a zombie (a killed orphan may wait a moment for init to reap it)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def kill_pids(path: Path) -> None:
    if path.exists():
        for pid in path.read_text().split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)


QUICK = """\
    #!/usr/bin/env python3
    import json, sys
    request = json.load(sys.stdin)
    print(json.dumps({"status": "ok", "result": {"n": request.get("payload", {}).get("n")}}))
    """


def test_kill_9_then_restart_reruns_the_job_and_loses_nothing_and_the_lock_refuses_a_second_gateway(
    tmp_path, gateway_factory
):
    pids = tmp_path / "long.pids"
    long_script = f"""\
        #!/usr/bin/env bash
        cat >/dev/null
        echo "$$" >> {pids}
        if [ "$(wc -l < {pids})" -ge 2 ]; then echo '{{"status":"ok","result":"finished on the rerun"}}'; exit 0; fi
        sleep 120
        """
    make_plugin(tmp_path / "plugins", "long", long_script)
    make_plugin(tmp_path / "plugins", "quick", QUICK, extra={"concurrency_safe": False})
    config = base_config(
        [tmp_path / "plugins"],
        {"long": {"retry": {"max_attempts": 3, "backoff_base": "100ms"}}, "quick": {}},
        service={"max_workers": 2},
    )
    gw = gateway_factory(config)
    try:
        # a second gateway on the same database is refused while the first runs
        second = cli("system", "start", "--config", str(gw.config_dir), timeout=30)
        assert second.returncode == 1
        lock_file = gw.db_path.with_name("ductile.db.lock")
        assert second.stderr.strip().splitlines()[-1] == (
            f"database {gw.db_path} is in use by another gateway (pid {gw.proc.pid}); "
            "stop it first, or point this one at another database.path"
        )
        assert lock_file.exists()

        run = cli("plugin", "run", "long", "--config", str(gw.config_dir))
        assert run.returncode == 0, run.stderr
        long_id = run.stdout.strip()
        wait_for(lambda: pids.exists(), message="the long job to start")
        # enqueue more work behind it (quick is serial, so some of it is still queued at the kill)
        quick_ids = []
        for n in range(3):
            out = cli("plugin", "run", "quick", "--payload", f'{{"n": {n}}}', "--config", str(gw.config_dir))
            assert out.returncode == 0, out.stderr
            quick_ids.append(out.stdout.strip())

        gw.kill9()
        state = {r["job_id"]: (r["status"], r["attempt"]) for r in rows(gw.db_path, "SELECT * FROM jobs")}
        assert state[long_id] == ("running", 1)
        assert set(state) == {long_id, *quick_ids}

        gw.start()
        wait_for(
            lambda: (
                all(r["status"] == "succeeded" for r in rows(gw.db_path, "SELECT status FROM jobs"))
                and len(rows(gw.db_path, "SELECT 1 FROM jobs")) == 4
            ),
            timeout=30,
            message="every job to succeed after the restart",
        )
        [long_job] = rows(gw.db_path, "SELECT * FROM jobs WHERE job_id = ?", (long_id,))
        assert long_job["attempt"] == 2
        attempts = rows(gw.db_path, "SELECT * FROM attempts WHERE job_id = ? ORDER BY attempt", (long_id,))
        assert [a["outcome"] for a in attempts] == ["abandoned", "success"]
        assert attempts[0]["error"] == "gateway stopped while attempt 1 was running (recovered at startup)"
        assert '"finished on the rerun"' in attempts[1]["response"]
        # every acknowledged enqueue ran exactly to success, none lost, none duplicated
        assert sorted(r["job_id"] for r in rows(gw.db_path, "SELECT job_id FROM jobs")) == sorted([long_id, *quick_ids])
        records = gw.log_records()
        assert any(r.get("msg") == "recovered job" and r.get("job_id") == long_id for r in records)
        # the first attempt's plugin outlived the kill -9'd gateway; recovery killed it before the rerun
        first_pid = int(pids.read_text().split()[0])
        assert any(
            r.get("msg") == "killed a plugin process left by the previous gateway" and r.get("pid") == first_pid
            for r in records
        )
        assert not process_alive(first_pid)
        done = [r for r in records if r.get("msg") == "job succeeded" and r.get("job_id") == long_id]
        assert done and {"plugin", "command", "attempt", "status", "duration_ms"} <= set(done[0])
    finally:
        kill_pids(pids)  # in case the test failed before recovery killed them


def test_scheduler_every_2s_skip_overlap_and_no_double_fire_across_restart(tmp_path, gateway_factory):
    make_plugin(tmp_path / "plugins", "tick", QUICK)
    slow = """\
        #!/usr/bin/env bash
        cat >/dev/null
        sleep 2.5
        echo '{"status":"ok","result":"slow done"}'
        """
    make_plugin(tmp_path / "plugins", "slow", slow)
    config = base_config(
        [tmp_path / "plugins"],
        {
            "tick": {"schedules": [{"every": "2s"}]},
            "slow": {"schedules": [{"id": "fast", "every": "500ms", "if_running": "skip"}]},
            "rare": {"uses": "tick", "schedules": [{"id": "hourly", "every": "1h"}]},
        },
        service={"max_workers": 3},
    )
    gw = gateway_factory(config)
    db = gw.db_path
    ticks = wait_for(lambda: (t := jobs(db, "tick")) and len(t) >= 4 and t, timeout=20, message="four tick fires")
    created = [from_text(t["created_at"]) for t in ticks]
    # on the 2 s grid from the first fire: never early, never a slot skipped or doubled
    for k, moment in enumerate(created):
        offset = (moment - created[0]).total_seconds()
        assert 2 * k - 0.05 <= offset < 2 * k + 1.0, (k, offset)
    assert all(t["submitted_by"] == "scheduler" and t["dedupe_key"] == "tick:poll:default" for t in ticks)

    # if_running: skip — the 500 ms schedule never overlaps its 2.5 s runs
    wait_for(lambda: len([j for j in jobs(db, "slow") if j["status"] == "succeeded"]) >= 2, timeout=20)
    slow_jobs = [j for j in jobs(db, "slow") if j["completed_at"]]
    spans = sorted((j["started_at"], j["completed_at"]) for j in slow_jobs)
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end, spans
    assert any(
        r.get("msg") == "schedule skipped" and r.get("reason") == "already_running" and r.get("plugin") == "slow"
        for r in gw.log_records()
    )

    # restart: no slot fires twice
    assert gw.stop() == 0
    before = jobs(db, "tick")
    [state] = rows(db, "SELECT * FROM schedule_state WHERE instance = 'tick'")
    next_slot = from_text(state["next_slot"])
    assert len(jobs(db, "rare")) == 1
    gw.start()
    wait_for(lambda: len(jobs(db, "tick")) >= len(before) + 2, timeout=20, message="ticks after the restart")
    gw.stop()
    after = jobs(db, "tick")[len(before) :]
    assert from_text(after[0]["created_at"]) >= next_slot  # the persisted slot, not an immediate re-fire
    # every fire, across both runs, is its own slot: the log names the slot each job was fired for
    fired = {
        r["job_id"]: r["slot"]
        for r in gw.log_records()
        if r.get("msg") == "job queued" and r.get("submitted_by") == "scheduler" and r.get("plugin") == "tick"
    }
    all_ticks = jobs(db, "tick")
    assert set(fired) == {t["job_id"] for t in all_ticks}
    slots = [fired[t["job_id"]] for t in all_ticks]
    assert len(slots) == len(set(slots)), slots
    grid = [(from_text(s) - from_text(slots[0])).total_seconds() for s in slots]
    assert all(g % 2 == 0 for g in grid), grid  # all on the 2 s grid of the first fire
    # the hourly schedule fired once at the first start and not again after two restarts
    assert len(jobs(db, "rare")) == 1


def test_plugin_run_wait_prints_the_result(tmp_path, gateway_factory):
    make_plugin(tmp_path / "plugins", "quick", QUICK)
    failing = """\
        #!/usr/bin/env bash
        cat >/dev/null
        echo '{"status":"error","error":"no luck","retry":false}'
        """
    make_plugin(tmp_path / "plugins", "sad", failing)
    gw = gateway_factory(base_config([tmp_path / "plugins"], {"quick": {}, "sad": {}}))
    out = cli("plugin", "run", "quick", "poll", "--payload", '{"n": 7}', "--wait", "--config", str(gw.config_dir))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].endswith(" succeeded (attempt 1)")
    assert '"n": 7' in out.stdout
    out = cli("plugin", "run", "sad", "--wait", "--config", str(gw.config_dir))
    assert out.returncode == 1
    assert out.stdout.splitlines()[0].endswith(" failed (attempt 1)")
    assert out.stderr.strip() == "error: no luck"
    out = cli("plugin", "run", "nope", "--config", str(gw.config_dir))
    assert out.returncode == 1
    assert out.stderr.strip() == "unknown plugin 'nope' (known: quick, sad)"


def test_datetime_helper_is_utc():
    assert from_text("2026-01-01T00:00:00Z").tzinfo is not None
    assert isinstance(from_text("2026-01-01T00:00:00.5+00:00"), datetime)
