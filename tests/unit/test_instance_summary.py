"""The pipelines view's one-line summary of an instance: status rule and duration (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from ductile.api.routers.lineage import summarize_instance

NOW = datetime(2026, 11, 29, 12, 0, 10, tzinfo=UTC)


def job(status: str, created: int, completed: int | None = None) -> dict:
    return {
        "status": status,
        "created_at": f"2026-11-29T12:00:{created:02d}.000000Z",
        "completed_at": None if completed is None else f"2026-11-29T12:00:{completed:02d}.000000Z",
    }


def test_all_succeeded() -> None:
    out = summarize_instance([job("succeeded", 0, 2), job("succeeded", 2, 5)], NOW)
    assert out == {
        "status": "succeeded",
        "started_at": "2026-11-29T12:00:00.000000Z",
        "completed_at": "2026-11-29T12:00:05.000000Z",
        "duration_ms": 5000.0,
        "job_count": 2,
    }


def test_running_while_any_job_is_active_and_timed_to_now() -> None:
    out = summarize_instance([job("failed", 0, 1), job("queued", 1)], NOW)
    assert out["status"] == "running" and out["duration_ms"] == 10000.0 and "completed_at" not in out


def test_last_bad_status_in_tree_order_wins() -> None:
    jobs = [job("dead", 0, 1), job("succeeded", 1, 2), job("timed_out", 2, 3), job("succeeded", 3, 4)]
    assert summarize_instance(jobs, NOW)["status"] == "timed_out"


STATUSES = ["queued", "running", "succeeded", "failed", "timed_out", "dead", "skipped"]


@given(st.lists(st.sampled_from(STATUSES), min_size=1, max_size=12))
def test_status_is_one_of_the_rule_outcomes(statuses: list[str]) -> None:
    jobs = [job(s, i, None if s in ("queued", "running") else i + 1) for i, s in enumerate(statuses)]
    out = summarize_instance(jobs, NOW)
    if {"queued", "running"} & set(statuses):
        assert out["status"] == "running"
    elif bad := [s for s in statuses if s in ("failed", "timed_out", "dead")]:
        assert out["status"] == bad[-1]
    else:
        assert out["status"] == "succeeded"
    assert out["duration_ms"] >= 0 and out["job_count"] == len(statuses)
