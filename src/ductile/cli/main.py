"""`ductile <noun> <action>`: the command tree. Each noun lives in its own module; all thin."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from ductile.cli import config_cmd, db_cmd, events_cmd, mcp_cmd, plugin_cmd, schedule_cmd, system_cmd

app = typer.Typer(
    name="ductile",
    help="Automation runtime: plugins as jobs in a durable SQLite queue, on schedules, over an HTTP API.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


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


@app.callback(invoke_without_command=True)
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


@app.command("version")
def version_cmd(json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Print the version, commit and build time (`unknown` when not known)."""
    _print_version(json_out)


app.add_typer(system_cmd.app, name="system")
app.add_typer(config_cmd.app, name="config")
app.add_typer(plugin_cmd.app, name="plugin")
events_cmd.register(app)
mcp_cmd.register(app)
app.add_typer(schedule_cmd.app, name="schedule")
app.add_typer(db_cmd.app, name="db")

try:  # the job commands arrive with the API issue
    from ductile.cli import job_cmd

    app.add_typer(job_cmd.app, name="job")
except ImportError:  # pragma: no cover
    pass


def main() -> None:
    app()


if __name__ == "__main__":
    main()
