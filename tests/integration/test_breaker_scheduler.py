"""The circuit breaker end to end in-process: the real Scheduler (gate) and Dispatcher running
the real `flipper` plugin over a real SQLite file, every clock controlled (pipelines.md §8)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ductile.breaker import wiring
from ductile.events import EventHub
from ductile.jobs import NewJob
from ductile.lifecycle import Status
from ductile.pipelines.router import HOOK_SUBMITTER, ROUTE_SUBMITTER
from ductile.scheduler.loop import Scheduler
from ductile.store.strips import Skip, SkipRequest

from .conftest import TEST_PLUGINS

T0 = datetime(2026, 11, 29, 10, 0, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Harness:
    """One `bad` flipper instance scheduled every minute, breaker threshold 2, reset_after 5m."""

    def __init__(self, rig: Any, tmp_path: Path):
        self.mode = tmp_path / "mode"
        self.mode.write_text("fail")
        plugins = {
            "bad": {
                "uses": "flipper",
                "config": {"mode_file": str(self.mode)},
                "schedules": [{"every": "1m"}],
                "retry": {"max_attempts": 1},
                "circuit_breaker": {"threshold": 2, "reset_after": "5m"},
            },
            # an upstream plugin whose event a pipeline routes into `bad` (a routed job)
            "up": {"uses": "recorder", "config": {"emit": [{"type": "go.bad", "payload": {}}]}},
        }
        pipelines = [{"name": "into-bad", "on": "go.bad", "steps": [{"uses": "bad"}]}]
        self.r = rig(plugins, roots=[TEST_PLUGINS], pipelines=pipelines)
        self.hub = EventHub()
        self.r.store.configure_breakers(
            **wiring.settings(self.r.setup.loaded.config), listener=wiring.publisher(self.hub)
        )
        self.clock = Clock(T0)
        self.r.dispatcher.clock = self.clock
        self.sched = Scheduler(
            self.r.store,
            self.r.setup.registry,
            hub=self.hub,
            clock=self.clock,
            draw=lambda: 0.0,
            gates=[self.r.store.breaker_gate],
        )
        self.sched.load()
        [self.entry] = self.sched.entries

    async def fire_at(self, minutes: float) -> str | None:
        """Fire the schedule at T0+minutes and run its job (if any) to the end."""
        self.clock.now = T0 + timedelta(minutes=minutes)
        job_id = await self.sched.fire(self.entry, self.clock.now)
        if job_id is not None:
            [job] = await self.r.run_until_done([job_id])
            assert job.submitted_by == "scheduler"
        return job_id

    def breaker(self) -> dict[str, Any]:
        row = self.r.store.breaker_row("bad", "poll")
        assert row is not None
        return row

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [e.data for e in self.hub.replay_since(0)[0] if e.type == kind]

    def transitions(self) -> list[tuple[Any, ...]]:
        rows = reversed(self.r.store.breaker_transitions("bad", "poll", 100))
        return [(t["from_state"], t["to_state"], t["reason"]) for t in rows]


async def test_opens_at_threshold_half_opens_after_reset_after_reopens_then_closes(rig, tmp_path):
    h = Harness(rig, tmp_path)
    assert await h.fire_at(0) is not None
    assert (h.breaker()["state"], h.breaker()["failure_count"]) == ("closed", 1)
    assert await h.fire_at(1) is not None
    assert (h.breaker()["state"], h.breaker()["opened_at"]) == ("open", "2026-11-29T10:01:00.000000Z")
    # open: due runs are skipped until opened_at + 5m
    assert await h.fire_at(2) is None
    assert await h.fire_at(5.9) is None
    skips = h.events("scheduler.skipped")
    assert [s["reason"] for s in skips] == ["circuit_open", "circuit_open"]
    assert {s["plugin"] for s in skips} == {"bad"} and {s["command"] for s in skips} == {"poll"}
    assert h.entry.last_skip == "2026-11-29T10:05:54.000000Z"
    # each skip is stored too (the run strip reads them after a restart): when, why, which slot
    [stored] = h.r.store.schedule_skips([SkipRequest("bad", h.entry.spec.id, "")], 10)
    assert stored == [
        Skip("2026-11-29T10:05:54.000000Z", "circuit_open", "2026-11-29T10:03:00.000000Z"),
        Skip("2026-11-29T10:02:00.000000Z", "circuit_open", "2026-11-29T10:02:00.000000Z"),
    ]
    # cooldown elapsed: half_open, one trial runs; it fails → open again, cooldown restarts
    assert await h.fire_at(6) is not None
    assert (h.breaker()["state"], h.breaker()["failure_count"]) == ("open", 3)
    assert await h.fire_at(10) is None
    # flipped to healthy: the next trial closes the breaker
    h.mode.write_text("ok")
    assert await h.fire_at(11) is not None
    assert (h.breaker()["state"], h.breaker()["failure_count"], h.breaker()["opened_at"]) == ("closed", 0, None)
    assert await h.fire_at(12) is not None  # closed: fires as usual
    assert h.transitions() == [
        ("closed", "open", "failure_threshold"),
        ("open", "half_open", "cooldown_elapsed"),
        ("half_open", "open", "failure_threshold"),
        ("open", "half_open", "cooldown_elapsed"),
        ("half_open", "closed", "success"),
    ]
    changed = h.events("scheduler.circuit_state_changed")
    assert [(c["previous_state"], c["state"], c["failure_count"]) for c in changed] == [
        ("closed", "open", 2),
        ("open", "half_open", 2),
        ("half_open", "open", 3),
        ("open", "half_open", 3),
        ("half_open", "closed", 0),
    ]
    assert h.events("scheduler.circuit_half_open") == [{"plugin": "bad", "command": "poll"}] * 2
    runs = (tmp_path / "mode.runs").read_text().splitlines()
    assert [line.split()[2] for line in runs] == ["fail", "fail", "fail", "ok", "ok"]  # skipped fires never ran


async def test_manual_reset_lets_the_next_due_run_through(rig, tmp_path):
    h = Harness(rig, tmp_path)
    await h.fire_at(0)
    await h.fire_at(1)
    assert await h.fire_at(2) is None
    h.r.store.reset_breaker("bad", "poll", h.clock.now)
    assert (h.breaker()["state"], h.breaker()["failure_count"]) == ("closed", 0)
    assert await h.fire_at(3) is not None  # long before the cooldown would have ended
    assert h.transitions()[-1] == ("open", "closed", "manual_reset")
    assert h.events("scheduler.circuit_state_changed")[-1]["previous_state"] == "open"


async def test_api_webhook_routed_and_hook_jobs_are_never_blocked_nor_counted(rig, tmp_path):
    h = Harness(rig, tmp_path)
    await h.fire_at(0)
    await h.fire_at(1)
    assert h.breaker()["state"] == "open"
    ids = []
    for by in ("api", "webhook:/hooks/bad", ROUTE_SUBMITTER, HOOK_SUBMITTER, "cli"):
        result = h.r.store.enqueue(
            NewJob(plugin="bad", command="poll", payload=None, submitted_by=by, max_attempts=1),
            now=h.clock.now,
            dedupe_since=None,
        )
        ids.append(result.job_id)
    jobs = await h.r.run_until_done(ids)
    assert [j.status for j in jobs] == [Status.FAILED] * 5  # they ran (the plugin still fails)
    # a really routed job: `up` emits go.bad, the pipeline starts a `bad` step job
    [upstream] = await h.r.run_until_done([h.r.submit("up")])
    [routed] = h.r.store.children(upstream.job_id)
    [routed] = await h.r.run_until_done([routed.job_id])
    assert (routed.plugin, routed.submitted_by, routed.status) == ("bad", ROUTE_SUBMITTER, Status.FAILED)
    assert (h.breaker()["state"], h.breaker()["failure_count"]) == ("open", 2)  # and were not counted
    h.mode.write_text("ok")
    jobs = await h.r.run_until_done([h.r.submit("bad")])
    assert jobs[0].status is Status.SUCCEEDED and h.breaker()["state"] == "open"  # a success by cli closes nothing


async def test_a_scheduled_job_crash_recovery_gives_up_on_counts_once(rig, tmp_path):
    from ductile.dispatch import recover

    h = Harness(rig, tmp_path)
    job_id = await h.sched.fire(h.entry, T0)
    assert job_id is not None
    claimed = h.r.store.claim(now=T0)  # the gateway "dies" with it running (max_attempts 1)
    assert claimed is not None and claimed.job_id == job_id
    h.r.reopen()
    h.r.store.configure_breakers(**wiring.settings(h.r.setup.loaded.config), listener=wiring.publisher(h.hub))
    [ended] = recover(h.r.store, h.r.setup.registry, now=T0 + timedelta(seconds=5))
    assert ended.status is Status.DEAD
    assert (h.breaker()["failure_count"], h.breaker()["last_job_id"]) == (1, job_id)
    assert recover(h.r.store, h.r.setup.registry, now=T0 + timedelta(seconds=6)) == []  # nothing twice
    assert h.breaker()["failure_count"] == 1
