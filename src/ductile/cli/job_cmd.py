"""`ductile job list|show|logs`: the API's job views in a terminal (`inspect`: job_inspect.py).

With `--api-url` (or $DUCTILE_API_URL) they call the HTTP API with `--token`/$DUCTILE_TOKEN;
without, they read the local database named by `--config`, through the same code that builds
the API's responses, so filters, validation and `--json` output are identical either way.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from ductile.cli import job_actions, job_inspect
from ductile.cli.api_client import ApiClient, ApiClientError
from ductile.cli.common import ConfigOption, JsonOption, TokenOption, config_or_exit, fail, print_json

app = typer.Typer(help="List and inspect jobs (over the API, or the local database).", no_args_is_help=True)

ApiUrlOption = Annotated[
    str | None,
    typer.Option("--api-url", envvar="DUCTILE_API_URL", help="API base URL; without it the local database is read."),
]
# Filters shared by `job list` and `job logs`.
PluginFilter = Annotated[str | None, typer.Option("--plugin", help="Exact plugin instance.")]
CommandFilter = Annotated[str | None, typer.Option("--command", help="Exact command.")]
SubmittedByFilter = Annotated[str | None, typer.Option("--submitted-by", help="scheduler, api, cli, ...")]
LimitOption = Annotated[int, typer.Option("--limit", help="1..200.")]


class _Local:
    """The API's read functions over the local store, raising the same errors."""

    def __init__(self, store: Any):
        self.store = store

    def list_jobs(self, **params: Any) -> dict[str, Any]:
        from ductile.api.routers.jobs import jobs_body

        return jobs_body(self.store, _strings(params))

    def get_job(self, job_id: str) -> dict[str, Any]:
        from ductile.api.routers.jobs import job_detail

        return job_detail(self.store, job_id)

    def job_logs(self, **params: Any) -> dict[str, Any]:
        from ductile.api.routers.jobs import logs_body

        return logs_body(self.store, _strings(params))


def _strings(params: dict[str, Any]) -> dict[str, str]:
    return {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in params.items() if v is not None}


@contextmanager
def _source(api_url: str | None, token: str | None, config: str | None) -> Iterator[Any]:
    if api_url:  # the API path imports nothing of the gateway (bench/cli.py)
        try:
            with ApiClient(api_url, token) as client:
                yield client
        except ApiClientError as exc:
            fail(str(exc))
        return
    from ductile.api.app import ApiError
    from ductile.store import StoreError, open_store

    try:
        loaded = config_or_exit(config, hint="(or pass --api-url to ask a running gateway)")
        if not loaded.config.database.postgres and not loaded.db_path.exists():
            fail(f"no database at {loaded.db_path} (has the gateway run yet? or pass --api-url)")
        store = open_store(loaded.store_target)
        try:
            yield _Local(store)
        finally:
            store.close()
    except ApiError as exc:
        fail(exc.message)
    except StoreError as exc:  # one line naming the file and what to do, never a traceback
        fail(str(exc), getattr(exc, "exit_code", 1))


def _table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def _when(stamp: str | None) -> str:
    return stamp.replace("T", " ")[:19] if stamp else "-"


@app.command("list")
def list_jobs(
    plugin: PluginFilter = None,
    command: CommandFilter = None,
    status: Annotated[
        str | None, typer.Option("--status", help="Status or alias (pending, ok, error); comma list for several.")
    ] = None,
    submitted_by: SubmittedByFilter = None,
    since: Annotated[
        str | None, typer.Option("--since", "--from", "--created-after", help="Created at or after (RFC 3339).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", "--to", "--created-before", help="Created before (RFC 3339).")
    ] = None,
    limit: LimitOption = 50,
    cursor: Annotated[str | None, typer.Option("--cursor", help="next_cursor of a previous page.")] = None,
    api_url: ApiUrlOption = None,
    token: TokenOption = None,
    config: ConfigOption = None,
    json_out: JsonOption = False,
) -> None:
    """Jobs, newest first, with the total number matching."""
    with _source(api_url, token, config) as source:
        body = source.list_jobs(
            plugin=plugin,
            command=command,
            status=status,
            submitted_by=submitted_by,
            created_after=since,
            created_before=until,
            limit=limit,
            cursor=cursor,
        )
    if json_out:
        print_json(body)
        return
    rows = [
        [
            j["job_id"],
            j["plugin"],
            j["command"],
            j["status"],
            str(j["attempt"]),
            _when(j["created_at"]),
            _when(j.get("completed_at")),
        ]
        for j in body["jobs"]
    ]
    typer.echo(_table(rows, ["JOB ID", "PLUGIN", "COMMAND", "STATUS", "ATT", "CREATED (UTC)", "COMPLETED"]))
    footer = f"{len(rows)} of {body['total']} matching"
    if body.get("next_cursor"):
        footer += f"; next page: --cursor {body['next_cursor']}"
    typer.echo(footer)


@app.command("show")
def show(
    job_id: Annotated[str, typer.Argument(help="Job id.")],
    api_url: ApiUrlOption = None,
    token: TokenOption = None,
    config: ConfigOption = None,
    json_out: JsonOption = False,
) -> None:
    """One job: status, times, result, and every attempt with its logs."""
    with _source(api_url, token, config) as source:
        job = source.get_job(job_id)
        attempts = source.job_logs(job_id=job_id, include_result=True, limit=200)["attempts"]
    if json_out:
        print_json({**job, "attempts": list(reversed(attempts))})
        return
    for key in ("job_id", "plugin", "command", "status", "attempt", "submitted_by"):
        typer.echo(f"{key + ':':14}{job[key]}")
    for key in ("created_at", "started_at", "completed_at"):
        typer.echo(f"{key + ':':14}{_when(job.get(key))}")
    if job.get("last_error"):
        typer.echo(f"{'last_error:':14}{job['last_error']}")
    for a in reversed(attempts):
        took = f", {a['duration_ms']:.0f} ms" if a.get("duration_ms") is not None else ""
        typer.echo(f"\nattempt {a['attempt']}: {a.get('outcome') or 'running'} -> {a.get('status') or '-'}{took}")
        typer.echo(f"  started {_when(a['started_at'])}, completed {_when(a.get('completed_at'))}")
        if a.get("error"):
            typer.echo(f"  error: {a['error']}")
        for line in a.get("logs") or []:
            typer.echo(f"  [{line.get('level', 'info')}] {line.get('message', '')}")
        if a.get("stderr"):
            typer.echo("  stderr:\n" + "\n".join("    " + s for s in a["stderr"].splitlines()[-20:]))
    if "result" in job:
        typer.echo("\nresult:\n" + json.dumps(job["result"], indent=2, ensure_ascii=False))


@app.command("logs")
def logs(
    job_id: Annotated[str | None, typer.Option("--job-id", help="Only this job.")] = None,
    plugin: PluginFilter = None,
    command: CommandFilter = None,
    status: Annotated[
        str | None, typer.Option("--status", help="Status the attempt led to; comma list for several.")
    ] = None,
    submitted_by: SubmittedByFilter = None,
    since: Annotated[
        str | None, typer.Option("--since", "--from", "--created-after", help="Started at or after (RFC 3339).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", "--to", "--created-before", help="Started before (RFC 3339).")
    ] = None,
    query: Annotated[str | None, typer.Option("--query", "-q", help="Search error, logs, stderr, result.")] = None,
    limit: LimitOption = 50,
    include_result: Annotated[bool, typer.Option("--include-result", help="Include each plugin response.")] = False,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="With --job-id: print attempts as they end until the job finishes.")
    ] = False,
    api_url: ApiUrlOption = None,
    token: TokenOption = None,
    config: ConfigOption = None,
    json_out: JsonOption = False,
) -> None:
    """Attempt records, newest first: outcome, error and plugin log lines."""
    if follow:
        _follow(job_id, api_url, token, config, json_out)
        return
    with _source(api_url, token, config) as source:
        body = source.job_logs(
            job_id=job_id,
            plugin=plugin,
            command=command,
            status=status,
            submitted_by=submitted_by,
            **{"from": since, "to": until},
            query=query,
            limit=limit,
            include_result=include_result or None,
        )
    if json_out:
        print_json(body)
        return
    for a in body["attempts"]:
        typer.echo(
            f"{_when(a['started_at'])}  {a['plugin']}:{a['command']}  {a['job_id']} #{a['attempt']}  "
            f"{a.get('outcome') or 'running'} -> {a.get('status') or '-'}"
        )
        if a.get("error"):
            typer.echo(f"    error: {a['error']}")
        for line in a.get("logs") or []:
            typer.echo(f"    [{line.get('level', 'info')}] {line.get('message', '')}")
        if include_result and a.get("result") is not None:
            typer.echo("    result: " + json.dumps(a["result"], ensure_ascii=False)[:500])
    typer.echo(f"{body['count']} attempt record(s)")


def _show_attempt(a: dict[str, Any]) -> None:
    typer.echo(
        f"{_when(a['started_at'])}  {a['plugin']}:{a['command']}  {a['job_id']} #{a['attempt']}  "
        f"{a.get('outcome') or 'running'} -> {a.get('status') or '-'}"
    )
    if a.get("error"):
        typer.echo(f"    error: {a['error']}")
    for line in a.get("logs") or []:
        typer.echo(f"    [{line.get('level', 'info')}] {line.get('message', '')}")
    if a.get("stderr"):
        for line in str(a["stderr"]).splitlines()[-20:]:
            typer.echo(f"    stderr: {line}")


def _follow(job_id: str | None, api_url: str | None, token: str | None, config: str | None, json_out: bool) -> None:
    """`job logs --job-id ID --follow`: exit 0 when the job succeeds, 1 when it ends otherwise."""
    from ductile.cli import events_cmd, target

    if job_id is None:
        fail("--follow needs --job-id (the job to follow)")
    url = target.api_url(api_url, config)

    def show(record: dict[str, Any]) -> None:
        if json_out:
            typer.echo(json.dumps(record, ensure_ascii=False, default=str))
        else:
            _show_attempt(record)

    code = events_cmd.follow_job_logs(url, target.token_from(token), job_id, show)
    if code:
        raise typer.Exit(code)


app.command("inspect")(job_inspect.inspect)

job_actions.register(app)
