"""`ductile <noun> <action>`: the command tree. Each noun lives in its own module; all thin.

Only the noun being run is imported: `ductile job list --api-url …` must not pay for the gateway,
the config models or FastAPI (a CLI that talks to a gateway should answer about as fast as curl;
bench/cli.py measures it). `--help` and unknown words load everything.
"""

from __future__ import annotations

import importlib
import json
import sys
from typing import Annotated

import typer

# noun → module with a Typer `app` (a command group)
GROUPS = {
    "system": "ductile.cli.system_cmd",
    "config": "ductile.cli.config_cmd",
    "plugin": "ductile.cli.plugin_cmd",
    "schedule": "ductile.cli.schedule_cmd",
    "job": "ductile.cli.job_cmd",
    "db": "ductile.cli.db_cmd",
}
# command → module with `register(app)` (single commands at the top level)
COMMANDS = {"events": "ductile.cli.events_cmd", "mcp": "ductile.cli.mcp_cmd"}


def build(only: str | None = None) -> typer.Typer:
    """The command tree; with `only`, just that noun (plus `version`)."""
    app = typer.Typer(
        name="ductile",
        help="Automation runtime: plugins as jobs in a durable SQLite queue, on schedules, over an HTTP API.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    app.callback(invoke_without_command=True)(_root)
    app.command("version")(version_cmd)
    for name, module in GROUPS.items():
        if only in (None, name):
            app.add_typer(importlib.import_module(module).app, name=name)
    for name, module in COMMANDS.items():
        if only in (None, name):
            importlib.import_module(module).register(app)
    return app


def _version_info() -> dict[str, str]:
    """Version, and the commit when running from a git checkout; `unknown` when that cannot be known."""
    import subprocess
    from pathlib import Path

    from ductile import __version__

    commit = "unknown"
    try:
        out = subprocess.run(
            ["git", "-C", str(Path(__file__).resolve().parent), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
        )
        if out.returncode == 0 and out.stdout.strip():
            commit = out.stdout.strip()[:12]
    except (OSError, subprocess.SubprocessError):
        pass
    return {"version": __version__, "commit": commit, "build_time": "unknown"}


def _print_version(json_out: bool) -> None:
    info = _version_info()
    if json_out:
        typer.echo(json.dumps(info, indent=2))
    else:
        typer.echo(f"ductile {info['version']}\ncommit: {info['commit']}\nbuilt_at: {info['build_time']}")


def _root(
    ctx: typer.Context,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.", is_eager=True)] = False,
) -> None:
    if version:
        _print_version(False)
        raise typer.Exit()
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        raise typer.Exit()


def version_cmd(json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Print the version, commit and build time (`unknown` when not known)."""
    _print_version(json_out)


def main() -> None:
    first = next((arg for arg in sys.argv[1:] if not arg.startswith("-")), None)
    build(first if first in GROUPS or first in COMMANDS else None)()


if __name__ == "__main__":
    main()
