"""`ductile <noun> <action>`: the command tree. Each noun lives in its own module; all thin."""

from __future__ import annotations

import typer

from ductile.cli import config_cmd, plugin_cmd, system_cmd

app = typer.Typer(
    name="ductile",
    help="Automation runtime: plugins as jobs in a durable SQLite queue, on schedules, over an HTTP API.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(system_cmd.app, name="system")
app.add_typer(config_cmd.app, name="config")
app.add_typer(plugin_cmd.app, name="plugin")

try:  # the job commands arrive with the API issue
    from ductile.cli import job_cmd

    app.add_typer(job_cmd.app, name="job")
except ImportError:  # pragma: no cover
    pass


def main() -> None:
    app()


if __name__ == "__main__":
    main()
