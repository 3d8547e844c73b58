"""`ductile stopwatch prune|prune-subs`: Ductile's stopwatch maintenance, on our timing ledger.

Ductile keeps timings in a table of their own (`job_stopwatch`) and `prune` deletes its rows. Ours
are the job history's attempts (store/stopwatch.py), which also hold each run's result, logs and
error: deleting them would delete job history. So `prune` deletes nothing and says that
`service.job_retention` prunes timings together with their jobs; `--dry-run` still counts the
rows a Ductile prune would have taken, as `matching`, while `affected` stays 0 as in the real run (a
dry run predicts the real run, which deletes nothing). `prune-subs` does change data: it removes the
`ductile_stopwatch_subs` key (or, with `--span`, the entries of one name) from matching stored
responses, at most `--limit` of them, oldest first, in one transaction.

Both work on the database of `--config` directly, like `job retry` and `system reset`: the data
lives only in the database (the gateway keeps no copy of stored responses), so a write beside a
running gateway is safe — SQLite serialises it with the gateway's commits through the WAL and
its busy timeout, PostgreSQL through row locks — and no API is needed (`job cancel` goes through
the API only because the gateway owns the job's processes).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

import typer

from ductile.cli.common import ConfigOption, JsonOption, config_or_exit, fail, print_json, require_database

app = typer.Typer(
    help="Ductile's stopwatch maintenance: sub-span clean-up (timings live in the job history).",
    no_args_is_help=True,
)

RETENTION_NOTE = (
    "nothing is deleted: timings are kept with the job history (each job's attempts) and pruned with it "
    "by service.job_retention (docs/CONFIG.md#service)"
)
OlderThan = Annotated[
    str | None,
    typer.Option(
        "--older-than",
        help="Required: rows started longer ago than this (30s, 12h, 7d, 2w, 1h30m).",
        show_default=False,
    ),
]
PluginF = Annotated[str | None, typer.Option("--plugin", help="Only this plugin instance.")]
StepF = Annotated[str | None, typer.Option("--step", help='Only this pipeline step ("" = jobs invoked directly).')]
StatusF = Annotated[str | None, typer.Option("--status", help="Only ok, err, timeout or capture_error (Ductile's).")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Only count what would be affected.")]
Limit = Annotated[int, typer.Option("--limit", help="At most this many rows (one transaction).")]


@app.command("prune")
def prune(
    older_than: OlderThan = None,
    plugin: PluginF = None,
    step: StepF = None,
    status: StatusF = None,
    limit: Limit = 5000,
    dry_run: DryRun = False,
    config: ConfigOption = None,
    json_out: JsonOption = False,
) -> None:
    """Ductile's timing prune: deletes nothing here (timings are job history; see service.job_retention)."""
    _run("prune", older_than, plugin, step, status, None, limit, dry_run, config, json_out)


@app.command("prune-subs")
def prune_subs(
    older_than: OlderThan = None,
    plugin: PluginF = None,
    step: StepF = None,
    status: StatusF = None,
    span: Annotated[str | None, typer.Option("--span", help="Remove only the sub-spans of this name.")] = None,
    limit: Limit = 5000,
    dry_run: DryRun = False,
    config: ConfigOption = None,
    json_out: JsonOption = False,
) -> None:
    """Remove ductile_stopwatch_subs (or one span's entries) from stored plugin responses."""
    _run("prune-subs", older_than, plugin, step, status, span, limit, dry_run, config, json_out)


def _run(
    action: str,
    older_than: str | None,
    plugin: str | None,
    step: str | None,
    status: str | None,
    span: str | None,
    limit: int,
    dry_run: bool,
    config: str | None,
    json_out: bool,
) -> None:
    from ductile.stopwatch import STATUSES
    from ductile.store import StoreError, open_store
    from ductile.store.stopwatch import StopwatchFilter

    cutoff = _cutoff(older_than)
    if status is not None and status not in STATUSES:
        fail(f"--status: {status!r} is not accepted (accepted: {', '.join(STATUSES)})")
    if limit < 1:
        fail(f"--limit: {limit} is not accepted (accepted: an integer of at least 1; default 5000)")
    loaded = config_or_exit(config)
    require_database(loaded)
    match = StopwatchFilter(cutoff, plugin, step, status, subs=action == "prune-subs", span=span)
    try:
        store = open_store(loaded.store_target)
    except StoreError as exc:
        fail(str(exc), getattr(exc, "exit_code", 1))
    matching: int | None = None
    try:
        if action == "prune":
            affected = 0
            matching = store.stopwatch_count(match, limit) if dry_run else None
        elif dry_run:
            affected = store.stopwatch_count(match, limit)
        else:
            affected = store.stopwatch_clear_subs(match, limit)
    except StoreError as exc:
        fail(str(exc), getattr(exc, "exit_code", 1))
    finally:
        store.close()
    filters = {"plugin": plugin, "step": step, "status": status, "span": span}
    report(action, dry_run, affected, cutoff, filters, json_out, matching)


def _cutoff(older_than: str | None) -> datetime:
    """Now minus `--older-than`, to the whole second (the time printed is the one used)."""
    from ductile.durations import ACCEPTED, DurationError, parse_duration
    from ductile.timeutil import utcnow

    if older_than is None:
        fail(f"--older-than is required (accepted: {ACCEPTED}, e.g. --older-than 7d)")
    try:
        seconds = parse_duration(older_than)
    except DurationError as exc:
        fail(f"--older-than: {exc}")
    try:
        return (utcnow() - timedelta(seconds=seconds)).replace(microsecond=0)
    except OverflowError:
        fail(f"--older-than: {older_than!r} reaches back before year 1 (accepted: {ACCEPTED})")


def report(
    action: str,
    dry_run: bool,
    affected: int,
    cutoff: datetime,
    filters: dict[str, Any],
    json_out: bool,
    matching: int | None = None,
) -> None:
    """Ductile's wording (`deleted N job_stopwatch row(s) older than T (plugin=x, …)`), with
    "would delete" / "would clear subs on" for a dry run; JSON with the same facts. `matching`
    (a `prune` dry run): how many runs a Ductile prune would have taken."""
    older = cutoff.strftime("%Y-%m-%dT%H:%M:%SZ")
    if json_out:
        body: dict[str, Any] = {
            "action": action,
            "dry_run": dry_run,
            "affected": affected,
            "older_than": older,
            "filters": filters,
        }
        if matching is not None:
            body["matching"] = matching
        if action == "prune":
            body["note"] = RETENTION_NOTE
        print_json(body)
        return
    given = [f"{name}={value}" for name, value in filters.items() if value is not None]
    suffix = f" ({', '.join(given)})" if given else ""
    if action == "prune":
        verb = "would delete" if dry_run else "deleted"
    else:
        verb = "would clear subs on" if dry_run else "cleared subs on"
    typer.echo(f"{verb} {affected} job_stopwatch row(s) older than {older}{suffix}")
    if matching is not None:
        typer.echo(f"{matching} run(s) match; {RETENTION_NOTE}")
    elif action == "prune":
        typer.echo(RETENTION_NOTE)
