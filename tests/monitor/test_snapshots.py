"""A few snapshots of the main screens, fed by a stub client and a frozen clock (deterministic)."""

from __future__ import annotations

from typing import Any

from stub_client import NOW, StubClient

from ductile.monitor.app import MonitorApp

SIZE = (120, 32)


def _app() -> MonitorApp:
    return MonitorApp(StubClient(), clock=lambda: NOW)


async def _settle(pilot: Any) -> None:
    app = pilot.app
    while app.connection != "live" or app.main.query_one("#jobs").row_count < 5:
        await pilot.pause(0.05)
    app.render_tables()
    await pilot.pause()


def test_main_screen(snap_compare: Any) -> None:
    assert snap_compare(_app(), terminal_size=SIZE, run_before=_settle)


def test_main_screen_filtered(snap_compare: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await _settle(pilot)
        await pilot.press("p", "p")  # echo, then fetch
        pilot.app.render_tables()
        await pilot.pause()

    assert snap_compare(_app(), terminal_size=SIZE, run_before=run_before)


def test_job_detail_screen(snap_compare: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await _settle(pilot)
        pilot.app.main.query_one("#jobs").focus()
        await pilot.press("down", "down", "down", "enter")
        while not pilot.app.screen.query("#attempt-1-stderr"):
            await pilot.pause(0.05)
        await pilot.pause()

    assert snap_compare(_app(), terminal_size=SIZE, run_before=run_before)


def test_help_screen(snap_compare: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await _settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(_app(), terminal_size=SIZE, run_before=run_before)


def test_job_detail_lineage_screen(snap_compare: Any) -> None:
    """A pipeline step: parent, pipeline/step, events → children, and the children table."""

    async def run_before(pilot: Any) -> None:
        await _settle(pilot)
        pilot.app.main.query_one("#jobs").focus()
        await pilot.press("down", "enter")  # job 4, the second newest
        while not pilot.app.screen.query("#detail-children"):
            await pilot.pause(0.05)
        await pilot.pause()

    assert snap_compare(_app(), terminal_size=SIZE, run_before=run_before)


def test_pipelines_screen(snap_compare: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await _settle(pilot)
        await pilot.press("l")
        while (
            not pilot.app.screen.query("#pipelines-table")
            or pilot.app.screen.query_one("#pipelines-table").row_count < 3
        ):
            await pilot.pause(0.05)
        await pilot.pause()

    assert snap_compare(_app(), terminal_size=SIZE, run_before=run_before)
