"""`ductile schedule list|pause|resume|run`: operate schedule entries of a running gateway (ours).

Always over the HTTP API (the running scheduler owns the entries: a pause written into the
database behind its back would be overwritten). Target: `--api-url`, else $DUCTILE_API_URL, else
the config's own `api.listen`; token: `--token`/$DUCTILE_TOKEN (scope `plugin:rw` for the actions,
`jobs:status:ro` for list).
"""

from __future__ import annotations

from typing import Annotated

import typer

from ductile.cli import client_views as views
from ductile.cli.common import ConfigOption, JsonOption, TokenOption

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
    views.schedule_pause(dict(locals()))  # the parameters by name, as the fast path (fast.py) passes them


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
    views.schedule_resume(dict(locals()))  # the parameters by name, as the fast path (fast.py) passes them


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
    views.schedule_run(dict(locals()))  # the parameters by name, as the fast path (fast.py) passes them


@app.command("list")
def list_entries(
    api_url: ApiUrlOption = None, token: TokenOption = None, config: ConfigOption = None, json_out: JsonOption = False
) -> None:
    """Every entry with its mode, status (active, paused_manual, paused_invalid, exhausted) and next run."""
    views.schedule_list({"api_url": api_url, "token": token, "config": config, "json_out": json_out})
