"""`ductile job retry|cancel`: one job by id, or every job matching filters (bulk).

Both talk to the gateway's API when one is named (`--api-url`, $DUCTILE_API_URL), through the
bodies in client_views.py that the start-up fast path (fast.py) runs too. `retry` also works
without a gateway, on the local database, through the same rules as the API (`ductile.actions`);
`cancel` always needs the gateway, which owns the job's processes. A bulk action without `--yes`
only shows what it would do (the API's dry run).
"""

from __future__ import annotations

import getpass
import os
from typing import Annotated, Any

import typer

from ductile.cli import client_views as views
from ductile.cli.common import ConfigOption, JsonOption, TokenOption, fail

JobIdArg = Annotated[str | None, typer.Argument(help="One job's id; omit it to act on every job matching the filters.")]
ApiUrlOption = Annotated[str | None, typer.Option("--api-url", envvar="DUCTILE_API_URL", help="Gateway API base URL.")]
ApiKeyOption = Annotated[str | None, typer.Option("--api-key", help="Alias of --token (Ductile).")]
Plugin = Annotated[str | None, typer.Option("--plugin", help="Bulk filter: exact plugin instance.")]
Command = Annotated[str | None, typer.Option("--command", help="Bulk filter: exact command.")]
StatusF = Annotated[str | None, typer.Option("--status", help="Bulk filter: comma-separated statuses.")]
Submitter = Annotated[str | None, typer.Option("--submitted-by", help="Bulk filter: exact submitter.")]
Pipeline = Annotated[str | None, typer.Option("--pipeline", help="Bulk filter: steps of this pipeline.")]
After = Annotated[str | None, typer.Option("--created-after", help="Bulk filter: RFC 3339 time.")]
Before = Annotated[str | None, typer.Option("--created-before", help="Bulk filter: RFC 3339 time.")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Only count and sample the matching jobs.")]
Yes = Annotated[
    bool, typer.Option("--yes", "-y", help="Act on the matches (bulk); without it a bulk action is a dry run.")
]


def register(app: typer.Typer) -> None:
    app.command("retry")(retry)
    app.command("cancel")(cancel)


def retry(
    job_id: JobIdArg = None,
    plugin: Plugin = None,
    command: Command = None,
    status: StatusF = None,
    submitted_by: Submitter = None,
    pipeline: Pipeline = None,
    created_after: After = None,
    created_before: Before = None,
    dry_run: DryRun = False,
    yes: Yes = False,
    api_url: ApiUrlOption = None,
    token: TokenOption = None,
    api_key: ApiKeyOption = None,
    config: ConfigOption = None,
    json_out: JsonOption = False,
) -> None:
    """Run finished jobs again as new jobs linked by `retry_of` (the old jobs stay as they were)."""
    p = dict(locals())  # the parameters by name, as the fast path (fast.py) passes them
    if api_url:  # the same body as the start-up fast path (fast.py)
        views.job_retry_api(p)
        return
    filters = views.job_filters(p)
    out = _retry_locally(job_id, filters, dry_run or not yes, config)
    views.show_retry(out, job_id, json_out)


def _retry_locally(job_id: str | None, filters: dict[str, str], dry: bool, config: str | None) -> dict[str, Any]:
    """The API's retry rules on the local database (a running gateway picks the jobs up)."""
    from ductile import actions
    from ductile.cli.common import require_database, setup_or_exit
    from ductile.jobs import BulkAction
    from ductile.store import open_store
    from ductile.timeutil import add_seconds, utcnow

    setup = setup_or_exit(config)
    require_database(setup.loaded)
    store = open_store(setup.loaded.store_target)
    try:
        if job_id is not None:
            old = store.get_job(job_id) if len(job_id) <= 64 else None
            if old is None:
                fail(f"no job with id {job_id[:80]!r}")
            try:
                spec = actions.retry_spec(old, setup.registry, submitted_by="cli")
            except actions.ActionError as exc:
                fail(exc.message)
            result = store.enqueue(spec, now=utcnow(), dedupe_since=None)
            return {
                "job_id": result.job_id,
                "retry_of": old.job_id,
                "status": result.status.value,
                "duplicate": not result.created,
            }
        cap = setup.loaded.config.api.bulk_max
        try:
            query, given = actions.bulk_query(filters, "retry", cap)
        except actions.ActionError as exc:
            fail(exc.message)
        page = store.list_jobs(query)
        out: dict[str, Any] = {
            "action": "retry",
            "dry_run": dry,
            "matched": page.total,
            "cap": cap,
            "remaining": max(0, page.total - cap),
            "sample": [j.summary() for j in page.jobs[: actions.SAMPLE]],
        }
        if dry:
            return out
        specs, skipped = [], []
        for job in page.jobs:
            try:
                specs.append(actions.retry_spec(job, setup.registry, submitted_by="cli"))
            except actions.ActionError as exc:
                skipped.append({"job_id": job.job_id, "reason": exc.message})
        now = utcnow()
        actor = f"cli:{_user()}"
        audit = BulkAction("retry", actor, given, page.total, 0, 0, [])
        ttl = setup.loaded.config.service.dedupe_ttl
        results, action_id = store.enqueue_many(specs, now=now, dedupe_since=add_seconds(now, -ttl), audit=audit)
        pairs = list(zip(specs, results, strict=True))
        skipped += [
            {"job_id": s.retry_of, "reason": f"a retry of it is already {r.status.value} ({r.job_id})"}
            for s, r in pairs
            if not r.created
        ]
        created = [{"retry_of": s.retry_of, "job_id": r.job_id} for s, r in pairs if r.created]
        return {**out, "acted": len(created), "retries": created, "skipped": skipped, "action_id": action_id}
    finally:
        store.close()


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def cancel(
    job_id: JobIdArg = None,
    plugin: Plugin = None,
    command: Command = None,
    status: StatusF = None,
    submitted_by: Submitter = None,
    pipeline: Pipeline = None,
    created_after: After = None,
    created_before: Before = None,
    dry_run: DryRun = False,
    yes: Yes = False,
    api_url: ApiUrlOption = None,
    token: TokenOption = None,
    api_key: ApiKeyOption = None,
    config: ConfigOption = None,
    json_out: JsonOption = False,
) -> None:
    """Cancel queued or running jobs through the gateway (running ones have their processes killed)."""
    # the parameters by name to the same body as the start-up fast path (fast.py), which needs a URL given
    views.job_cancel_api(dict(locals()))
