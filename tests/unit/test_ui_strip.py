"""The run strip's pure parts: which slots a schedule had, and what each slot shows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from starlette.datastructures import QueryParams

from ductile.config import ScheduleConfig
from ductile.ui import jobs_query
from ductile.ui.strip import cells, past_slots

T0 = datetime(2026, 11, 29, 10, 0, 0, tzinfo=UTC)


def t(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_every_slots_step_back_from_the_next_slot_and_stop_at_now() -> None:
    spec = ScheduleConfig(every="15m")
    slots = past_slots(spec, next_slot=t(900 * 4 + 300), now=t(900 * 4 + 10), count=3)
    assert slots == [t(900 * 2 + 300 - 900), t(900 * 2 + 300), t(900 * 3 + 300)]
    assert all(s <= t(900 * 4 + 10) for s in slots)


def test_cron_slots_are_the_cron_times_before_now() -> None:
    spec = ScheduleConfig(cron="0 * * * *", timezone="UTC")
    slots = past_slots(spec, next_slot=None, now=t(3 * 3600 + 60), count=3)
    assert slots == [t(3600), t(2 * 3600), t(3 * 3600)]


def test_window_forbidden_times_are_not_slots() -> None:
    spec = ScheduleConfig(every="1h", only_between="09:00-12:00", timezone="UTC")
    slots = past_slots(spec, next_slot=t(0), now=t(0), count=5)  # T0 is 10:00
    assert [s.hour for s in slots] == [9, 10]  # 08:00 and before are outside the window; 10:00 is now


def test_one_shots_have_no_strip() -> None:
    assert past_slots(ScheduleConfig(after="5m"), next_slot=None, now=t(0), count=5) == []


def test_each_slot_shows_its_job_a_skip_or_missed() -> None:
    slots = [t(0), t(60), t(120), t(180), t(240), t(300)]
    jobs = [
        (t(1), "succeeded"),
        (t(61), "failed"),
        (t(125), "timed_out"),
        (t(301), "running"),
        (t(302), "succeeded"),  # a run-now beside the scheduled one: the running one is shown
    ]
    shown = cells(slots, jobs, skips=[t(200)], now=t(1000), grace=30)
    assert [c.state for c in shown] == ["succeeded", "failed", "timed_out", "skipped", "missed", "running"]
    assert shown[-1].runs == 2
    assert shown[4].label == "2026-11-29 10:04:00 UTC: missed (no run)"
    assert shown[0].mark == "✓" and shown[4].mark == "M"  # a letter as well as a colour


def test_a_young_empty_slot_is_pending_not_missed() -> None:
    shown = cells([t(0), t(60)], [(t(1), "succeeded")], skips=[], now=t(70), grace=30)
    assert [c.state for c in shown] == ["succeeded", "pending"]


def test_slots_wholly_before_the_floor_are_not_drawn() -> None:
    slots = [t(0), t(60), t(120)]
    shown = cells(slots, [(t(125), "dead")], skips=[], now=t(130), floor=t(90), grace=1)
    assert [(c.start, c.state) for c in shown] == [(t(60), "missed"), (t(120), "failed")]


def test_jobs_query_drops_empty_fields_and_reads_local_times_as_utc() -> None:
    query = QueryParams(
        "plugin=&command=poll&status=failed&status=dead,timed_out&submitted_by=&created_after=2026-11-29T10:00"
        "&created_before=2026-11-29T11:00:30&limit="
    )
    pairs = jobs_query.clean(query)
    assert pairs == [
        ("command", "poll"),
        ("status", "failed"),
        ("status", "dead"),
        ("status", "timed_out"),
        ("created_after", "2026-11-29T10:00:00Z"),
        ("created_before", "2026-11-29T11:00:30Z"),
    ]
    assert jobs_query.form_value(pairs, "created_after") == "2026-11-29T10:00:00"
    link = jobs_query.url(pairs, cursor="abc")
    assert link.startswith("/ui/jobs?command=poll&status=failed&status=dead") and link.endswith("&cursor=abc")
