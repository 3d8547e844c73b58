"""`ductile schedule list|pause|resume|run`: operate schedule entries of a running gateway (ours).

Always over the HTTP API (the running scheduler owns the entries: a pause written into the
database behind its back would be overwritten). Target: `--api-url`, else $DUCTILE_API_URL, else
the config's own `api.listen`; token: `--token`/$DUCTILE_TOKEN (scope `plugin:rw` for the actions,
`jobs:status:ro` for list).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ductile.cli import target
from ductile.cli.api_client import ApiClient, ApiClientError
from ductile.cli.common import ConfigOption, JsonOption, TokenOption, fail, print_json

app = typer.Typer(help="Pause, resume or run schedule entries of a running gateway.", no_args_is_help=True)

ApiUrlOption = Annotated[
    str | None,
    typer.Option(
        "--api-url",
        envvar="DUCTILE_API_URL",
        help="Gateway API base URL (default: $DUCTILE_API_URL, then the config's api.listen, then 127.0.0.1:8080).",
    ),
]
Plugin = Annotated[str, typer.Argument(help="Plugin instance name.")]
ScheduleId = Annotated[str, typer.Argument(help="Schedule id (`default` when the entry has none).")]


def _call(
    api_url: str | None, token: str | None, config: str | None, path: str, body: Any = None, *, get: bool = False
) -> dict[str, Any]:
    url = target.api_url(api_url, config)
    try:
        with ApiClient(url, target.token_from(token)) as client:
            return client.get(path) if get else client.post(path, body)
    except ApiClientError as exc:
        fail(str(exc))


def _line(entry: dict[str, Any]) -> str:
    who = f" by {entry['paused_by']} at {entry['paused_at']}" if entry.get("paused_by") else ""
    reason = f" ({entry['reason']})" if entry.get("reason") else ""
    nxt = f", next run {entry['next_run_at']}" if entry.get("next_run_at") else ""
    return f"{entry['plugin']}/{entry['schedule_id']}: {entry['status']}{reason}{who}{nxt}"


@app.command("pause")
def pause(
    plugin: Plugin,
    schedule_id: ScheduleId,
    reason: Annotated[str | None, typer.Option("--reason", help="Shown with the paused status.")] = None,
    api_url: ApiUrlOption = None,
    token: TokenOption = None,
    config: ConfigOption = None,
    json_out: JsonOption = False,
) -> None:
    """Stop an entry firing until it is resumed (kept across restarts; pausing twice is a no-op)."""
    body = {"reason": reason} if reason else None
    entry = _call(api_url, token, config, f"/schedules/{plugin}/{schedule_id}/pause", body)
    if json_out:
        print_json(entry)
    else:
        typer.echo(_line(entry) if entry["changed"] else f"already paused: {_line(entry)}")


@app.command("resume")
def resume(
    plugin: Plugin,
    schedule_id: ScheduleId,
    api_url: ApiUrlOption = None,
    token: TokenOption = None,
    config: ConfigOption = None,
    json_out: JsonOption = False,
) -> None:
    """Make a paused entry active again (it continues at its next slot)."""
    entry = _call(api_url, token, config, f"/schedules/{plugin}/{schedule_id}/resume")
    if json_out:
        print_json(entry)
    else:
        typer.echo(_line(entry) if entry["changed"] else f"not paused: {_line(entry)}")


@app.command("run")
def run_now(
    plugin: Plugin,
    schedule_id: ScheduleId,
    api_url: ApiUrlOption = None,
    token: TokenOption = None,
    config: ConfigOption = None,
    json_out: JsonOption = False,
) -> None:
    """Queue one job for the entry now (also when paused; the next fire does not move)."""
    out = _call(api_url, token, config, f"/schedules/{plugin}/{schedule_id}/run")
    if json_out:
        print_json(out)
    else:
        typer.echo(f"queued job {out['job_id']} for {plugin}/{schedule_id}")


@app.command("list")
def list_entries(
    api_url: ApiUrlOption = None, token: TokenOption = None, config: ConfigOption = None, json_out: JsonOption = False
) -> None:
    """Every entry with its mode, status (active, paused_manual, paused_invalid, exhausted) and next run."""
    out = _call(api_url, token, config, "/scheduler/jobs", get=True)
    if json_out:
        print_json(out)
        return
    if not out["jobs"]:
        typer.echo("no schedule entries")
    for entry in out["jobs"]:
        typer.echo(_line(entry) + f"  [{entry['mode']}, {entry['command']}]")
