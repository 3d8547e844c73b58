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

from ductile.cli import client_views as views
from ductile.cli import job_actions, job_inspect
from ductile.cli.common import ConfigOption, JsonOption, TokenOption, config_or_exit, fail, require_database

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
def _local(config: str | None) -> Iterator[Any]:
    """The local database (commands given an API URL use client_views instead)."""
    from ductile.api.app import ApiError
    from ductile.store import StoreError, open_store

    try:
        loaded = config_or_exit(config, hint="(or pass --api-url to ask a running gateway)")
        require_database(loaded, hint=" Or pass --api-url to ask a running gateway.")
        store = open_store(loaded.store_target)
        try:
            yield _Local(store)
        finally:
            store.close()
    except ApiError as exc:
        fail(exc.message)
    except StoreError as exc:  # one line naming the file and what to do, never a traceback
        fail(str(exc), getattr(exc, "exit_code", 1))


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
    p = dict(locals())  # the parameters by name, as the fast path (fast.py) passes them
    if api_url:  # the same body as the start-up fast path (fast.py)
        views.job_list_api(p)
        return
    with _local(config) as source:
        body = source.list_jobs(**views.list_params(p))
    views.show_job_list(body, json_out)


@app.command("show")
def show(
    job_id: Annotated[str, typer.Argument(help="Job id.")],
    api_url: ApiUrlOption = None,
    token: TokenOption = None,
    config: ConfigOption = None,
    json_out: JsonOption = False,
) -> None:
    """One job: status, times, result, and every attempt with its logs."""
    if api_url:  # the same body as the start-up fast path (fast.py)
        views.job_show_api({"job_id": job_id, "api_url": api_url, "token": token, "json_out": json_out})
        return
    with _local(config) as source:
        job = source.get_job(job_id)
        attempts = source.job_logs(job_id=job_id, include_result=True, limit=200)["attempts"]
    views.show_job(job, attempts, json_out)


@app.command("logs")
def logs(
    job: Annotated[
        str | None, typer.Argument(help="Only this job (the same as --job-id).", show_default=False)
    ] = None,
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
        bool, typer.Option("--follow", "-f", help="With a job id: print attempts as they end until the job finishes.")
    ] = False,
    api_url: ApiUrlOption = None,
    token: TokenOption = None,
    config: ConfigOption = None,
    json_out: JsonOption = False,
) -> None:
    """Attempt records, newest first: outcome, error and plugin log lines."""
    if job is not None:
        if job_id is not None and job_id != job:
            fail(f"two job ids: {job!r} and --job-id {job_id!r}; give one (as the argument or with --job-id)")
        job_id = job
    del job  # `p` below is the options by name
    if follow:
        _follow(job_id, api_url, token, config, json_out)
        return
    p = dict(locals())  # the parameters by name, as the fast path (fast.py) passes them
    if api_url:  # the same body as the start-up fast path (fast.py)
        views.job_logs_api(p)
        return
    with _local(config) as source:
        body = source.job_logs(**views.logs_params(p))
    views.show_job_logs(body, include_result, json_out)


def _show_attempt(a: dict[str, Any]) -> None:
    typer.echo(
        f"{views.when(a['started_at'])}  {a['plugin']}:{a['command']}  {a['job_id']} #{a['attempt']}  "
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
        fail("--follow needs --job-id (the job to follow: job logs JOB_ID --follow)")
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
