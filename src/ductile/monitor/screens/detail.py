"""One job in full: fields, lineage (parent, pipeline/step, events → children), payload, result,
and every attempt with its logs, stderr and error.

Everything the plugin provided is shown through the redaction rule (`ductile.redact`): the gateway
already applied it, and applying it again is a no-op, so an older gateway cannot make this screen
display a credential."""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import DataTable, Footer, Static

from ductile.jobs import ATTEMPT_PLUGIN_FIELDS
from ductile.monitor.client import ApiRefused, ApiUnavailable
from ductile.monitor.fmt import STATUS_STYLE, span
from ductile.monitor.widgets.lineage import ChildTable, has_lineage, lineage_text
from ductile.redact import redact_fields

_JOB_PLUGIN_FIELDS = ("payload", "result", "last_error", "transitions", "events")


def pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str) if value is not None else "—"


def section(title: str, body: str, *, id: str | None = None, style: str = "") -> list[Static]:
    return [
        Static(Text(title, style="bold underline"), classes="section-title"),
        Static(Text(body, style=style), id=id),
    ]


class JobDetailScreen(Screen[None]):
    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "back"),
        Binding("r", "reload", "reload"),
        Binding("u", "parent", "parent job"),
        Binding("y", "job('retry')", "retry"),
        Binding("k", "job('cancel')", "cancel"),
    ]

    def __init__(self, job_id: str):
        super().__init__()
        self.job_id = job_id
        self.parent_job_id: str | None = None

    def action_job(self, action: str) -> None:
        """`y` retries the job shown (a new job; its detail opens), `k` cancels it (jobs:rw)."""
        self.run_worker(self._job_action(action), group="job-action")

    async def _job_action(self, action: str) -> None:
        from ductile.monitor.client import ApiRefused, ApiUnavailable

        try:
            body = await self.app.client.job_action(self.job_id, action)  # type: ignore[attr-defined]
        except (ApiRefused, ApiUnavailable) as exc:
            self.notify(f"{action} {self.job_id[:8]}: {getattr(exc, 'message', exc)}", severity="error")
            return
        if action == "retry":
            again = " (already queued or running)" if body.get("duplicate") else ""
            self.notify(f"retry of {self.job_id[:8]} queued as {body['job_id'][:8]}{again}")
            self.app.push_screen(JobDetailScreen(body["job_id"]))
        else:
            self.notify(f"{self.job_id[:8]} {body.get('status', 'cancelled')}")
            self.action_reload()

    def action_parent(self) -> None:
        if self.parent_job_id:
            self.app.push_screen(JobDetailScreen(self.parent_job_id))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a child opens it (stopped here so the app's main-table handler never sees it)."""
        event.stop()
        if isinstance(event.data_table, ChildTable):
            self.app.push_screen(JobDetailScreen(str(event.row_key.value)))

    def compose(self) -> ComposeResult:
        yield Static(Text(f"job {self.job_id}", style="bold"), id="detail-title")
        yield VerticalScroll(Static("loading…"), id="detail-body")
        yield Footer()

    def on_mount(self) -> None:
        self.action_reload()

    @work(exclusive=True, group="detail")
    async def action_reload(self) -> None:
        client = self.app.client  # type: ignore[attr-defined]
        try:
            try:
                job = await client.job_detail(self.job_id)
            except ApiRefused as exc:
                if exc.status != 404 or "no such endpoint" not in exc.message:
                    raise
                job = await client.job(self.job_id)  # an older gateway without /job/{id}/detail
            attempts = await client.attempts(self.job_id)
        except (ApiRefused, ApiUnavailable) as exc:
            await self._fill([Static(Text(f"could not load job: {exc}", style="red"), id="detail-error")])
            return
        await self._fill(self._widgets(job, attempts))

    async def _fill(self, widgets: list[Widget]) -> None:
        body = self.query_one("#detail-body", VerticalScroll)
        await body.remove_children()
        await body.mount_all(widgets)

    def _widgets(self, job: dict[str, Any], attempts: list[dict[str, Any]]) -> list[Widget]:
        job = redact_fields(job, _JOB_PLUGIN_FIELDS)
        attempts = [redact_fields(a, ATTEMPT_PLUGIN_FIELDS) for a in attempts]
        self.parent_job_id = job.get("parent_job_id")
        status = job.get("status", "")
        head = Text()
        head.append(f"{job.get('plugin')} {job.get('command')}  ", style="bold")
        head.append(status, style=STATUS_STYLE.get(status, ""))
        head.append(f"  attempt {job.get('attempt')}/{job.get('max_attempts', '?')}")
        head.append(f"  by {job.get('submitted_by')}\n")
        for key in ("created_at", "started_at", "completed_at", "next_retry_at", "dedupe_key", "parent_job_id"):
            if job.get(key):
                head.append(f"{key}: {job[key]}\n", style="dim")
        out: list[Widget] = [Static(head, id="detail-head")]
        if has_lineage(job):
            out.append(Static(Text("Lineage", style="bold underline"), classes="section-title"))
            out.append(Static(lineage_text(job), id="detail-lineage"))
            if job.get("children"):
                out.append(ChildTable(job["children"], id="detail-children"))
        if job.get("last_error"):
            out += section("Last error", job["last_error"], id="detail-last-error", style="red")
        out += section("Payload", pretty(job.get("payload")), id="detail-payload")
        if "result" in job:
            out += section("Result", pretty(job.get("result")), id="detail-result")
        if job.get("transitions"):
            lines = [
                f"{t['at']}  {t.get('from') or '·'} → {t['to']}  {t.get('reason', '')}" for t in job["transitions"]
            ]
            out += section("Transitions", "\n".join(lines), id="detail-transitions")
        if not attempts:
            out.append(Static(Text("no attempts yet", style="dim"), id="detail-no-attempts"))
        for a in attempts:
            n = a.get("attempt")
            took = span(a["duration_ms"] / 1000) if a.get("duration_ms") is not None else "?"
            title = f"Attempt {n}: {a.get('outcome') or 'running'} → {a.get('status') or '…'} in {took}, exit {a.get('exit_code')}"
            out.append(Static(Text(title, style="bold reverse"), classes="attempt-title"))
            if a.get("error"):
                out += section("error", a["error"], id=f"attempt-{n}-error", style="red")
            if a.get("result") is not None:
                out += section("result", pretty(a["result"]), id=f"attempt-{n}-result")
            logs = "\n".join(
                f"[{entry.get('level', 'info')}] {entry.get('message', '')}" for entry in a.get("logs") or []
            )
            out += section("logs", logs or "—", id=f"attempt-{n}-logs")
            out += section("stderr", a.get("stderr") or "—", id=f"attempt-{n}-stderr", style="yellow")
        return out
