"""kill -9 of a real gateway while a fan-out pipeline is mid-flight (issue 8, "Crash safety").

Routing inserts a parent's children in the same transaction that marks the parent succeeded, so at
any instant the database holds either a succeeded parent with all of its children or a parent that
is not succeeded and has none. After a restart recovery reruns the interrupted parents, and the
unique (parent_job_id, source_event_id, plugin, command, route_key) index keeps every child single.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import wait_for

from tests.acceptance.pipeline_rig import Gateways, jobs, post, wait_settled

pytestmark = pytest.mark.slow

PARENTS = 40
BRANCHES = ("f1", "f2", "f3")


@pytest.fixture
def gateways(tmp_path: Path) -> Iterator[Gateways]:
    pool = Gateways(tmp_path)
    yield pool
    pool.stop_all()


def check_atomic(db: Path) -> tuple[list[dict], list[dict]]:
    """Every succeeded parent has exactly its 3 children, each once; no other parent has any."""
    parents = jobs(db, "plugin = 'fan'")
    children = jobs(db, "plugin = 'leaf'")
    by_parent: dict[str, list[dict]] = {}
    for child in children:
        by_parent.setdefault(child["parent_job_id"], []).append(child)
    identities = Counter((c["parent_job_id"], c["source_event_id"], c["route_key"]) for c in children)
    assert not [k for k, n in identities.items() if n > 1], "a child was created twice"
    for parent in parents:
        mine = by_parent.pop(parent["job_id"], [])
        if parent["status"] == "succeeded":
            assert sorted(c["route_key"] for c in mine) == [f"{p}/step_1" for p in BRANCHES], parent
            assert len({c["source_event_id"] for c in mine}) == 1  # one emitted event, three routes
        else:
            assert mine == [], f"parent {parent['job_id']} is {parent['status']} but already has children"
    assert not by_parent, "children whose parent is not a fan job"
    return parents, children


def test_kill_9_mid_fan_out_leaves_whole_families_and_a_restart_completes_them_exactly_once(tmp_path, gateways):
    plugins = {
        "fan": {"uses": "recorder", "config": {"sleep_s": 0.05, "emit": [{"type": "fan.out", "payload": {"k": 1}}]}},
        "leaf": {"uses": "recorder", "config": {"sleep_s": 0.02}},
    }
    pipelines = [
        {"name": name, "on": "fan.out", "from_plugin": "fan", "steps": [{"uses": "leaf"}]} for name in BRANCHES
    ]
    gw = gateways.start(plugins, pipelines, service={"max_workers": 4})
    for n in range(PARENTS):
        answer = post(gw, "/plugin/fan/handle", {"payload": {"n": n}})
        assert answer.status_code == 202, answer.text

    def some_done() -> bool:
        done = sum(1 for j in jobs(gw.db_path, "plugin = 'fan'") if j["status"] == "succeeded")
        return done >= 5

    wait_for(some_done, timeout=60, interval=0.01, message="a few parents to finish")
    gw.kill9()

    parents, _ = check_atomic(gw.db_path)
    finished = sum(1 for p in parents if p["status"] == "succeeded")
    assert len(parents) == PARENTS and finished < PARENTS, "the kill came too late to test anything"

    gw.start()
    wait_settled(gw.db_path, at_least=PARENTS * (1 + len(BRANCHES)), timeout=120)
    parents, children = check_atomic(gw.db_path)
    assert {p["status"] for p in parents} == {"succeeded"}
    assert len(children) == PARENTS * len(BRANCHES)
    assert {c["status"] for c in children} == {"succeeded"}
    assert {c["submitted_by"] for c in children} == {"route"}


@pytest.mark.skipif(os.environ.get("DUCTILE_CRASH_ROUNDS") is None, reason="set DUCTILE_CRASH_ROUNDS=N for a soak")
def test_kill_9_soak(tmp_path, gateways):
    """The same invariant over many kills at random moments (manual soak, not part of make test)."""
    plugins = {
        "fan": {"uses": "recorder", "config": {"sleep_s": 0.02, "emit": [{"type": "fan.out", "payload": {}}]}},
        "leaf": {"uses": "recorder"},
    }
    pipelines = [
        {"name": name, "on": "fan.out", "from_plugin": "fan", "steps": [{"uses": "leaf"}]} for name in BRANCHES
    ]
    gw = gateways.start(plugins, pipelines, service={"max_workers": 4})
    for n in range(PARENTS):
        assert post(gw, "/plugin/fan/handle", {"payload": {"n": n}}).status_code == 202
    for round_ in range(int(os.environ["DUCTILE_CRASH_ROUNDS"])):
        time.sleep(0.05 + (round_ % 7) * 0.03)
        gw.kill9()
        check_atomic(gw.db_path)
        gw.start()
    wait_settled(gw.db_path, at_least=PARENTS * (1 + len(BRANCHES)), timeout=180)
    _, children = check_atomic(gw.db_path)
    assert len(children) == PARENTS * len(BRANCHES)
