"""Scenario 20 (pipelines.md §10) black box: a real `ductile system start`, the recorder plugin as real
processes, and what is asserted read back from the API and the gateway's SQLite file.

The gateway runs on the real clock, so the window cases are built around the time the test runs:
a midnight-crossing window that contains now fires, one that excludes now skips with
`outside_time_window`. The same cases at a fixed 23:30 / 12:00 run with a controlled clock in
tests/integration/test_schedule_extras.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import wait_for
from integration.conftest import alive

from ductile.jobs import ScheduleState
from ductile.store import SqliteStore
from ductile.timeutil import from_text, to_text
from tests.acceptance.pipeline_rig import Gateways, jobs, recorder, rows

DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


@pytest.fixture
def gateways(tmp_path: Path) -> Iterator[Gateways]:
    pool = Gateways(tmp_path)
    yield pool
    pool.stop_all()


def hhmm(moment: datetime) -> str:
    return f"{moment.hour:02d}:{moment.minute:02d}"


def schedule_of(gw: Any, plugin: str) -> dict[str, Any]:
    with gw.client() as client:
        body = client.get("/schedules").json()
    return next(s for s in body["schedules"] if s["instance"] == plugin)


def test_scenario_20_schedule_extras(gateways: Gateways, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    rec = tmp_path / "rec"
    # both windows cross midnight (start > end): one contains now, the other does not
    inside = f"{hhmm(now - timedelta(hours=1))}-{hhmm(now - timedelta(hours=2))}"
    outside = f"{hhmm(now + timedelta(hours=1))}-{hhmm(now - timedelta(hours=1))}"
    today = DAY_NAMES[(now.weekday() + 1) % 7]
    plugins = {
        "at_once": {**recorder(rec), "schedules": [{"at": to_text(now - timedelta(minutes=1))}]},
        "after2": {**recorder(rec), "schedules": [{"after": "2s"}]},
        "win_in": {**recorder(rec), "schedules": [{"every": "1s", "only_between": inside, "timezone": "UTC"}]},
        "win_out": {**recorder(rec), "schedules": [{"every": "1s", "only_between": outside, "timezone": "UTC"}]},
        # both today and tomorrow, so a run across midnight UTC still sees a day in the list
        "day_off": {
            **recorder(rec),
            "schedules": [{"every": "1s", "not_on": [today, DAY_NAMES[(now.weekday() + 2) % 7]]}],
        },
        "slow": {**recorder(rec, sleep_s=5), "schedules": [{"every": "3s", "if_running": "cancel"}]},
        "catchup": {**recorder(rec), "schedules": [{"every": "1m", "catch_up": "run_all"}]},
    }
    gw = gateways.start(plugins, None, service={"max_workers": 4}, start=False)
    # the catch-up entry last fired 5 min 10 s before the gateway starts
    last = datetime.now(UTC) - timedelta(minutes=5, seconds=10)
    gw.db_path.parent.mkdir(parents=True, exist_ok=True)
    store = SqliteStore(gw.db_path)
    store.put_schedule_state(
        ScheduleState(
            "catchup", "default", to_text(last + timedelta(minutes=1)), None, to_text(last), None, command="poll"
        )
    )
    store.close()
    gw.start()
    db = gw.db_path

    # at (1 min in the past): one job, then exhausted / one_shot_exhausted
    wait_for(lambda: schedule_of(gw, "at_once")["entry_status"] == "exhausted", 30, message="at exhausted")
    assert schedule_of(gw, "at_once")["reason"] == "one_shot_exhausted"
    assert len(jobs(db, "plugin = 'at_once'")) == 1

    # after: 2s: one job, no earlier than 2 s after the gateway started
    [after] = wait_for(lambda: jobs(db, "plugin = 'after2'"), 30, message="after job")
    with gw.client() as client:
        started = from_text(client.get("/healthz").json()["started_at"])
    assert from_text(after["created_at"]) >= started + timedelta(seconds=2)
    assert schedule_of(gw, "after2")["entry_status"] == "exhausted"

    # windows: inside fires, outside is skipped with the reason and sleeps until it opens
    wait_for(lambda: jobs(db, "plugin = 'win_in'"), 30, message="window job")
    win_out = wait_for(lambda: (s := schedule_of(gw, "win_out"))["last_skip_reason"] and s, 30, message="skip")
    assert win_out["last_skip_reason"] == "outside_time_window" and not jobs(db, "plugin = 'win_out'")
    assert win_out["next_due"] > to_text(datetime.now(UTC) + timedelta(minutes=50))  # the window's start, not a poll
    day_off = wait_for(lambda: (s := schedule_of(gw, "day_off"))["last_skip_reason"] and s, 30, message="day skip")
    assert day_off["last_skip_reason"] == "outside_day_constraint" and not jobs(db, "plugin = 'day_off'")

    # if_running: cancel: the running job is dead with Ductile's reason, its process gone, a new job queued
    def cancelled() -> dict[str, Any] | None:
        """A dead slow job whose plugin process had started (under load a cancel can also land
        between claim and spawn; that one has no process to check)."""
        found = rows(
            db,
            "SELECT j.*, a.pid, a.outcome FROM jobs AS j JOIN attempts AS a ON a.job_id = j.job_id "
            "WHERE j.plugin = 'slow' AND j.status = 'dead' AND a.pid IS NOT NULL ORDER BY j.created_at",
        )
        return found[0] if found else None

    dead = wait_for(cancelled, 60, message="a cancelled slow job that had started")
    assert dead["last_error"] == "cancelled by scheduler (if_running=cancel)" and dead["outcome"] == "cancelled"
    wait_for(lambda: not alive(dead["pid"]), 15, message="the cancelled plugin process to be gone")
    # the new job is enqueued once the old process is gone (SIGTERM, then SIGKILL after kill_grace)
    later = wait_for(lambda: jobs(db, "plugin = 'slow' AND created_at > ?", (dead["created_at"],)), 30, message="new")
    assert later[0]["submitted_by"] == "scheduler"

    # catch_up: run_all: 5 jobs, one per missed slot, keyed by slot
    catch = jobs(db, "plugin = 'catchup' AND dedupe_key LIKE '%:catchup:%'")
    expected = [f"catchup:poll:default:catchup:{to_text(last + timedelta(minutes=i))[:19]}Z" for i in range(1, 6)]
    assert sorted(j["dedupe_key"] for j in catch) == expected
