"""`ductile job retry|cancel`: one job by id, or every job matching filters (bulk).

Both talk to the gateway's API when one is named (`--api-url`, $DUCTILE_API_URL). `retry`
also works without a gateway, on the local database, through the same rules as the API
(`ductile.actions`); `cancel` always needs the gateway, which owns the job's processes. A bulk
action without `--yes` only shows what it would do (the API's dry run).
"""

from __future__ import annotations

import getpass
import os
from typing import Annotated, Any

import typer

from ductile.cli.api_client import ApiClient, ApiClientError
from ductile.cli.common import ConfigOption, JsonOption, TokenOption, fail, print_json

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


def _filters(**given: str | None) -> dict[str, str]:
    return {k: v for k, v in given.items() if v is not None}


def _print_bulk(out: dict[str, Any], json_out: bool) -> None:
    if json_out:
        print_json(out)
        return
    verb = {"retry": "retry", "cancel": "cancel"}[out["action"]]
    if out["dry_run"]:
        typer.echo(
            f"{out['matched']} job(s) match; a {verb} would act on {min(out['matched'], out['cap'])} (cap {out['cap']})"
        )
        for job in out["sample"]:
            typer.echo(f"  {job['job_id']}  {job['plugin']} {job['command']}  {job['status']}  {job['created_at']}")
        if out["matched"]:
            typer.echo("re-run with --yes to act")
        return
    typer.echo(
        f"{out['action']}: {out['acted']} of {out['matched']} matching job(s) acted on"
        + (f", {len(out['skipped'])} skipped" if out["skipped"] else "")
        + (f", {out['remaining']} left over the cap (run again)" if out["remaining"] else "")
        + f" (audit #{out['action_id']})"
    )
    for skip in out["skipped"]:
        typer.echo(f"  skipped {skip['job_id']}: {skip['reason']}")


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
    filters = _filters(
        plugin=plugin,
        command=command,
        status=status,
        submitted_by=submitted_by,
        pipeline=pipeline,
        created_after=created_after,
        created_before=created_before,
    )
    if job_id is not None and filters:
        fail("give a job id or filters, not both")
    if api_url:
        from ductile.cli import target

        try:
            with ApiClient(api_url, target.token_from(api_key, token)) as client:
                if job_id is not None:
                    out = client.post(f"/job/{job_id}/retry")
                else:
                    out = client.post("/jobs/retry", params={**filters, "dry_run": str(dry_run or not yes).lower()})
        except ApiClientError as exc:
            fail(str(exc))
        _print_one_or_bulk(out, job_id, json_out)
        return
    out = _retry_locally(job_id, filters, dry_run or not yes, config)
    _print_one_or_bulk(out, job_id, json_out)


def _print_one_or_bulk(out: dict[str, Any], job_id: str | None, json_out: bool) -> None:
    if job_id is None:
        _print_bulk(out, json_out)
    elif json_out:
        print_json(out)
    else:
        again = " (already queued or running: not started twice)" if out.get("duplicate") else ""
        typer.echo(f"Queued job {out['job_id']}, a retry of {out['retry_of']}{again}")


def _retry_locally(job_id: str | None, filters: dict[str, str], dry: bool, config: str | None) -> dict[str, Any]:
    """The API's retry rules on the local database (a running gateway picks the jobs up)."""
    from ductile import actions
    from ductile.cli.common import setup_or_exit
    from ductile.jobs import BulkAction
    from ductile.store import open_store
    from ductile.timeutil import add_seconds, utcnow

    setup = setup_or_exit(config)
    if not setup.loaded.config.database.postgres and not setup.loaded.db_path.exists():
        fail(f"no database at {setup.loaded.db_path} (has the gateway run yet?)")
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
    from ductile.cli import target

    filters = _filters(
        plugin=plugin,
        command=command,
        status=status,
        submitted_by=submitted_by,
        pipeline=pipeline,
        created_after=created_after,
        created_before=created_before,
    )
    if job_id is not None and filters:
        fail("give a job id or filters, not both")
    url = target.api_url(api_url, config)
    try:
        with ApiClient(url, target.token_from(api_key, token)) as client:
            if job_id is not None:
                job = client.post(f"/job/{job_id}/cancel")
            else:
                out = client.post("/jobs/cancel", params={**filters, "dry_run": str(dry_run or not yes).lower()})
    except ApiClientError as exc:
        hint = " (is a gateway running? cancel needs one: it owns the job's processes)" if exc.status is None else ""
        fail(f"{exc}{hint}")
    if job_id is None:
        _print_bulk(out, json_out)
    elif json_out:
        print_json(job)
    else:
        typer.echo(f"{job['job_id']} {job['status']}: {job.get('last_error') or ''}")
