"""`ductile system start`, and `status` / `monitor`, which observe a gateway over its API."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

import typer

from ductile import logs
from ductile.api.listen import ListenError
from ductile.cli import breaker_cmd, db_cmd, skills_cmd, system_reload, system_service, system_tools, target
from ductile.cli import client_views as views
from ductile.cli.common import ConfigOption, JsonOption, TokenOption, fail
from ductile.config import ConfigError
from ductile.gateway import Gateway, prepare
from ductile.lock import LockError
from ductile.store import StoreError

log = logging.getLogger("ductile.gateway")

app = typer.Typer(help="Run and observe the gateway.", no_args_is_help=True)
system_tools.register(app)
system_service.register(app)
breaker_cmd.register(app)
db_cmd.register(app)  # ductile system nodes
system_reload.register(app)  # ductile system reload
skills_cmd.register(app)  # ductile system skills (Ductile's place for it; also `ductile skills`)


@app.command("start")
def start(config: ConfigOption = None) -> None:
    """Run the gateway in the foreground: scheduler, dispatcher and (if enabled) the API."""
    try:
        setup = prepare(config)
    except ConfigError as exc:
        for problem in exc.problems:
            typer.echo(problem, err=True)
        fail(f"refusing to start: {len(exc.problems)} config problem(s)")
    service = setup.loaded.config.service
    logs.setup(service.log_level, service.log_format)
    for warning in setup.warnings:
        log.warning(warning)  # through logging, so `log_format: json` output stays all JSON
    gateway = Gateway(setup)
    try:
        gateway.open()
    except LockError as exc:
        fail(str(exc))
    except StoreError as exc:  # one line: the file, what SQLite said, what to do
        fail(str(exc), getattr(exc, "exit_code", 1))
    try:
        asyncio.run(gateway.run())
    except ListenError:
        raise typer.Exit(1)  # the gateway logged the one line saying which address and what to change
    except StoreError as exc:  # the database failed between opening it and running (schedules load)
        fail(f"gateway stopped: {exc}", getattr(exc, "exit_code", 1))
    if gateway.failure is not None:
        # Non-zero so that a supervisor (systemd Restart=on-failure) restarts it.
        fail(f"gateway stopped: {gateway.failure}", gateway.exit_code or 1)


ApiUrlOption = Annotated[
    str | None,
    typer.Option(
        "--api-url",
        envvar="DUCTILE_API_URL",
        help="Gateway API base URL (default: $DUCTILE_API_URL, then the config's api.listen, then 127.0.0.1:8080).",
    ),
]


@app.command("status")
def status(
    api_url: ApiUrlOption = None, token: TokenOption = None, config: ConfigOption = None, json_out: JsonOption = False
) -> None:
    """One-shot health + schedules summary over the API; exit 1 when the gateway is unreachable or
    degraded, 2 when a schedule is late, failing or stale (for cron and monitoring checks)."""
    # the same body as the start-up fast path (fast.py), which runs it when a URL is given
    views.system_status({"api_url": target.api_url(api_url, config), "token": token, "json_out": json_out})


@app.command("monitor")
def monitor(api_url: ApiUrlOption = None, token: TokenOption = None, config: ConfigOption = None) -> None:
    """Live terminal monitor over the API: jobs, schedules, job detail, plugin state (`?` for keys)."""
    api_url = target.api_url(api_url, config)
    token = target.token_from(token)
    from ductile.monitor.app import MonitorApp
    from ductile.monitor.client import MonitorClient

    MonitorApp(MonitorClient(api_url, token)).run()
