"""Three real gateway processes on one PostgreSQL schema (issue 12, "what it must show"):

- 3,000 jobs spread across the nodes, each run exactly once, and a `concurrency_safe: false`
  plugin never running twice at once anywhere in the cluster;
- `kill -9` of a node in the middle of its jobs: the survivors recover them (lease rule) and no
  acknowledged job is lost;
- 50 `every: 1s` schedules with the leader killed in the middle: no slot fired twice, the new
  leader carries on from the slots in the database, and missed slots only per `catch_up`.

Runs are counted by the tally fixture (tests/plugins/tally), which appends every run to a file, and
by the attempts in the database. Deadlines are generous (a shared 2-core machine); the figures the
issue asks for are printed and measured properly by bench/multinode.py.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import wait_for

from cluster.pgrig import Cluster, wait_ready
from ductile.jobs import NewJob
from ductile.store import open_store
from ductile.timeutil import from_text, to_text, utcnow

pytestmark = pytest.mark.slow
N_SCHEDULES = int(os.environ.get("DUCTILE_TEST_FAILOVER_SCHEDULES", "50"))  # the 50; fewer to debug


def tally(directory: Path, **config: Any) -> dict[str, Any]:
    return {"uses": "tally", "config": {"tally_dir": str(directory), **config}}


def start_nodes(cluster: Cluster, plugins: dict[str, Any], n: int = 3, **extra: Any) -> list[Any]:
    nodes = [cluster.start(cluster.config(plugins, **extra), wait=False) for _ in range(n)]
    for node in nodes:
        wait_ready(node)
    return nodes


def node_id(node: Any) -> str:
    with node.client() as client:
        return client.get("/healthz").json()["node"]["id"]


def runs(directory: Path) -> Counter[str]:
    path = directory / "runs"
    return Counter(line.split()[0] for line in path.read_text().splitlines()) if path.exists() else Counter()


@pytest.mark.timeout(900)
def test_three_nodes_run_3000_jobs_each_exactly_once_and_never_overlap_a_solo_plugin(
    pg_cluster: Cluster, tmp_path: Path
) -> None:
    many, solo = tmp_path / "many", tmp_path / "solo"
    plugins = {
        "tally": tally(many),
        "solo": {"uses": "tally_solo", "config": {"tally_dir": str(solo), "sleep_s": "0.2", "exclusive": "yes"}},
    }
    nodes = start_nodes(pg_cluster, plugins, service={"max_workers": 4})
    store = open_store(pg_cluster.url)
    try:
        solo_ids = [store.enqueue(NewJob("solo", "poll"), now=utcnow(), dedupe_since=None).job_id for _ in range(12)]
        ids = [store.enqueue(NewJob("tally", "poll"), now=utcnow(), dedupe_since=None).job_id for _ in range(3000)]
        wait_for(
            lambda: store.status_counts()["succeeded"] == 3012,
            timeout=600,
            interval=0.5,
            message="3,012 jobs succeeded",
        )
        counts = store.status_counts()
    finally:
        store.close()
    assert counts["failed"] == counts["dead"] == counts["queued"] == counts["running"] == 0
    ran = runs(many)
    assert set(ran) == set(ids) and set(ran.values()) == {1}  # every job ran, none twice
    attempts = pg_cluster.rows("SELECT job_id, count(*), min(node_id) FROM attempts GROUP BY job_id")
    assert {r[1] for r in attempts} == {1}  # one attempt each: nothing was run again
    per_node = Counter(r[2] for r in attempts)
    live = {node_id(n) for n in nodes}
    assert set(per_node) <= live and len(per_node) >= 2, per_node  # spread across nodes
    print(f"\njobs per node: {dict(per_node)}")
    # concurrency_safe: false, cluster-wide: the fixture's lock directory was never found taken
    assert not (solo / "overlaps").exists(), (solo / "overlaps").read_text()
    assert set(runs(solo)) == set(solo_ids)
    solo_nodes = pg_cluster.rows("SELECT DISTINCT node_id FROM attempts WHERE job_id = ANY(%s)", (solo_ids,))
    print(f"solo plugin ran on {len(solo_nodes)} node(s)")


@pytest.mark.timeout(600)
def test_kill_9_of_a_node_mid_run_its_jobs_are_recovered_by_the_others(pg_cluster: Cluster, tmp_path: Path) -> None:
    work = tmp_path / "work"
    nodes = start_nodes(pg_cluster, {"slow": tally(work, sleep_s="3")}, service={"max_workers": 2})
    victim = node_id(nodes[0])
    store = open_store(pg_cluster.url)
    try:
        ids = [store.enqueue(NewJob("slow", "poll"), now=utcnow(), dedupe_since=None).job_id for _ in range(12)]

        def victim_running() -> list[str]:
            rows = pg_cluster.rows(
                "SELECT j.job_id FROM jobs j JOIN attempts a ON a.job_id = j.job_id AND a.attempt = j.attempt "
                "WHERE j.status = 'running' AND a.node_id = %s",
                (victim,),
            )
            return [r[0] for r in rows]

        lost = wait_for(victim_running, timeout=60, message="the victim node runs jobs")
        nodes[0].kill9()
        killed_at = utcnow()
        lease = 3.0
        wait_for(
            lambda: all(store.get_job(j).attempt == 2 or store.get_job(j).status.value == "succeeded" for j in lost),
            timeout=lease + 5 + 60,
            interval=0.1,
            message="the killed node's jobs recovered",
        )
        wait_for(
            lambda: store.status_counts()["succeeded"] == len(ids), timeout=180, interval=0.2, message="all succeeded"
        )
        for job_id in lost:
            attempts = store.attempts(job_id)
            assert [a.attempt for a in attempts] == [1, 2]
            assert attempts[0].outcome == "abandoned" and "node stopped heartbeating" in attempts[0].error
            assert attempts[1].status == "succeeded"
            [recovered] = [t for t in store.transitions(job_id) if "attempt 1 abandoned" in t.reason]
            took = (datetime.fromisoformat(recovered.at.replace("Z", "+00:00")) - killed_at).total_seconds()
            print(f"\njob {job_id[:8]} recovered {took:.1f}s after kill -9 (lease {lease}s)")
        assert all(store.get_job(j).status.value == "succeeded" for j in ids)  # 0 acknowledged jobs lost
    finally:
        store.close()
    nodes_after = pg_cluster.rows("SELECT node_id FROM nodes")
    assert victim not in {r[0] for r in nodes_after}
    ran = runs(work)
    for job_id in ids:
        assert 1 <= ran[job_id] <= 2  # at most once per attempt


def fired_slots(
    fires: list[tuple[str, str, str]], jobs: dict[str, tuple[str, str]], catch_up: dict[str, str]
) -> dict[str, list[tuple[datetime, datetime]]]:
    """Every fire of every schedule as (slot, fired at), oldest first. `fired at` is the job's
    created_at, the `now` of the fire. Regular slots come from the leaders' logs ("job queued");
    a fire the killed leader committed but had not logged yet gets the slot its previous fire
    moved the entry to; run_all catch-up slots come from their `scheduler.scheduled` events."""
    out: dict[str, list[tuple[datetime, datetime]]] = {}
    logged = {job: from_text(slot) for _, slot, job in fires}
    for job, (schedule, created) in sorted(jobs.items(), key=lambda j: j[1][1]):
        if job in logged:
            slot = logged[job]
        elif job in catch_up:
            slot = from_text(catch_up[job])
        else:  # the slot the leader moved to at its previous fire (scheduler/due.py next_slot)
            previous, fired_at = out[schedule][-1]  # the first fires are long logged by then
            slot = previous + timedelta(seconds=1)
            if slot <= fired_at:
                slot += timedelta(seconds=int((fired_at - slot).total_seconds()) + 1)
        out.setdefault(schedule, []).append((slot, from_text(created)))
    return {s: sorted(v) for s, v in out.items()}


def uncovered(fired: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Stretches where slots were lost. After a fire at `t` the next slot is due at most one
    interval (1 s) later: the next grid slot, or — when the fire was late — the first slot after
    `t` (late slots are skipped, pipelines.md §9), and a catch-up grid starts from
    `last_fired_at` = `t` (§9.5). A next fire beyond `t` + 1 s lost the slots in between."""
    out = []
    for (_, fired_at), (slot, _) in itertools.pairwise(fired):
        if slot > fired_at + timedelta(seconds=1.01):
            out.append((fired_at + timedelta(seconds=1), slot))
    return out


@pytest.mark.timeout(600)
def test_killing_the_leader_moves_the_schedules_without_firing_a_slot_twice(pg_cluster: Cluster, tmp_path: Path) -> None:
    """Half the schedules keep the default `catch_up: skip`, half are `run_all`: after the leader
    dies, the run_all ones fire every slot of the outage exactly once (the new leader catches up
    from the database); the skip ones miss only slots that fell due while no node led."""
    work = tmp_path / "ticks"
    # `if_running: queue` with room for every run: on a busy box a run may still be going at its
    # next slot, and `skip` would (rightly) skip that slot — not what this test counts.
    schedules = [
        {
            "id": f"s{i}",
            "every": "1s",
            "command": "poll",
            "if_running": "queue",
            **({"catch_up": "run_all"} if i % 2 else {}),
        }
        for i in range(N_SCHEDULES)
    ]
    run_all = {f"s{i}" for i in range(N_SCHEDULES) if i % 2}
    plugins = {"ticker": {**tally(work), "schedules": schedules, "max_outstanding_polls": 1000}}
    nodes = start_nodes(pg_cluster, plugins, service={"max_workers": 4})

    def leader() -> Any:
        """The node that says it leads; a node too busy to answer right now is simply not it yet
        (2 shared cores run 3 gateways firing 50 schedules a second here)."""
        for node in nodes:
            if node.proc.poll() is None:
                try:
                    with node.client() as client:
                        if client.get("/healthz", timeout=30).json()["node"]["leader"]:
                            return node
                except httpx.HTTPError:
                    continue
        return None

    first = wait_for(leader, timeout=30, message="a leader")
    node_id_of_first = node_id(first)
    time.sleep(8)  # the schedules run on the first leader for a while (8 slots each)
    first.kill9()
    killed = time.monotonic()
    killed_at = utcnow()
    second = wait_for(leader, timeout=60, message="a new leader")
    failover = time.monotonic() - killed
    time.sleep(8)
    # A clean stop, the leader last (stopped first, it would hand the schedules to another node):
    # every fire logged, every event written, nothing fires after.
    for node in sorted(nodes, key=lambda n: n is second):
        node.stop()
    fires: list[tuple[str, str, str]] = []
    for node in nodes:
        for rec in node.log_records():
            if rec.get("msg") == "job queued" and rec.get("submitted_by") == "scheduler":
                fires.append((rec["schedule_id"], rec["slot"], rec["job_id"]))
    slots = Counter((s, slot) for s, slot, _ in fires)
    assert slots and max(slots.values()) == 1, [k for k, v in slots.items() if v > 1]  # no slot twice
    logged_jobs = {j for _, _, j in fires}
    jobs = pg_cluster.rows("SELECT job_id, dedupe_key, created_at FROM jobs WHERE submitted_by = 'scheduler'")
    jobs_by_id = {j: (key.split(":")[2], created) for j, key, created in jobs}
    regular = {j: v for j, v in jobs_by_id.items() if j not in {k for k, key, _ in jobs if ":catchup:" in key}}
    caught = pg_cluster.rows(
        "SELECT data::json->>'job_id', data::json->>'slot' FROM stream_events "
        "WHERE type = 'scheduler.scheduled' AND data::json->>'schedule_id' = 'catch_up'"
    )
    catch_up_jobs = {j for j, key, _ in jobs if ":catchup:" in key}
    assert {j for j, _ in caught} == catch_up_jobs  # every catch-up job and its event
    catch_up = dict(caught)
    # every logged fire is a job; a fire the killed leader committed but had not logged yet is the only slack
    assert logged_jobs <= set(regular) and len(set(regular) - logged_jobs) <= 50
    by_schedule: dict[str, list[str]] = {}
    for s, slot, _ in sorted(fires, key=lambda f: f[1]):
        by_schedule.setdefault(s, []).append(slot)
    assert len(by_schedule) == N_SCHEDULES
    for s, seq in by_schedule.items():
        assert seq == sorted(set(seq)), s  # strictly forward
    after = pg_cluster.rows(
        "SELECT count(*) FROM jobs j JOIN attempts a ON a.job_id = j.job_id WHERE j.submitted_by = 'scheduler' "
        "AND a.node_id <> %s AND j.created_at > %s",
        (node_id_of_first, to_text(killed_at)),
    )
    assert after[0][0] > 0  # the survivors fired and ran scheduled jobs after the kill

    # Missed slots only per catch_up. The outage runs from the kill to the new leader's load of the
    # schedules (its "this node leads" line); a slot at most 1 s late still fires at a start.
    took_over = max(
        from_text(rec["ts"]) for rec in second.log_records() if rec.get("msg", "").startswith("this node leads")
    )
    all_slots = fired_slots(fires, jobs_by_id, catch_up)
    assert len(all_slots) == N_SCHEDULES
    lost: dict[str, list[tuple[datetime, datetime]]] = {}
    for s, seq in all_slots.items():
        steps = [(b[0] - a[0]).total_seconds() for a, b in itertools.pairwise(seq)]
        assert min(steps) >= 0.5, (s, seq)  # no slot twice, catch-up ones included
        if uncovered(seq):
            lost[s] = uncovered(seq)

    def show(names: Any) -> str:
        return f"kill {killed_at.time()}, took over {took_over.time()}\n" + "\n".join(
            f"{s}: lost {[(a.time().isoformat(), b.time().isoformat()) for a, b in lost[s]]} in "
            + ", ".join(f"{slot.time().isoformat()}@{at.time().isoformat()}" for slot, at in all_slots[s])
            for s in names
        )

    assert not {s for s in lost if s in run_all}, "run_all: every slot fires:\n" + show(s for s in lost if s in run_all)
    # catch_up: skip — only the slots that fell due while no node led: one stretch, across the outage
    wrong = [
        s
        for s, stretches in lost.items()
        if len(stretches) != 1
        or not (stretches[0][0] - timedelta(seconds=1) < killed_at < took_over < stretches[0][1])
        or stretches[0][1] > took_over + timedelta(seconds=2)
    ]
    assert not wrong, show(wrong)
    caught_up = {jobs_by_id[j][0] for j in catch_up}
    print(
        f"\nfailover (kill -9 of the leader → a survivor leads): {failover:.1f}s; fires: {len(fires)}; "
        f"run_all entries caught up: {len(caught_up)} ({len(catch_up)} jobs); "
        f"skip entries that lost the outage's slots: {len(lost)}"
    )
    print(json.dumps({s: len(v) for s, v in list(by_schedule.items())[:3]}))
