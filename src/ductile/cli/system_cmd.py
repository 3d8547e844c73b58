"""`ductile system start` (and, with the monitor issue, `status` and `monitor`)."""

from __future__ import annotations

import asyncio

import typer

from ductile import logs
from ductile.cli.common import ConfigOption, fail
from ductile.config import ConfigError
from ductile.gateway import Gateway, prepare
from ductile.lock import LockHeld
from ductile.store import StoreError

app = typer.Typer(help="Run and observe the gateway.", no_args_is_help=True)


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
    for warning in setup.discovery.warnings:
        typer.echo(f"warning: {warning}", err=True)
    gateway = Gateway(setup)
    try:
        gateway.open()
    except (LockHeld, StoreError) as exc:
        fail(str(exc))
    asyncio.run(gateway.run())
