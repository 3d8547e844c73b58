"""`ductile <noun> <action>`: the command tree. Each noun lives in its own module; all thin.

Start-up is paid on every call, so: the commands that only talk to a gateway's API, given a plain
argv they fully understand, run from fast.py without importing Typer at all; everything else
(`--help`, errors, local files, the gateway itself) builds the Typer tree below, and of that only
the noun being run (`--help` and unknown words load everything). bench/cli.py measures it.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # not `typing`: see fast.py
if TYPE_CHECKING:
    import typer

# noun → module with a Typer `app` (a command group)
GROUPS = {
    "system": "ductile.cli.system_cmd",
    "config": "ductile.cli.config_cmd",
    "plugin": "ductile.cli.plugin_cmd",
    "schedule": "ductile.cli.schedule_cmd",
    "job": "ductile.cli.job_cmd",
    "db": "ductile.cli.db_cmd",
    "stopwatch": "ductile.cli.stopwatch_cmd",
}
# command → module with `register(app)` (single commands at the top level)
COMMANDS = {
    "events": "ductile.cli.events_cmd",
    "mcp": "ductile.cli.mcp_cmd",
    "api": "ductile.cli.api_cmd",
    "skills": "ductile.cli.skills_cmd",
    "relay": "ductile.cli.unsupported_cmd",
    "vault": "ductile.cli.unsupported_cmd",
    "secrets": "ductile.cli.unsupported_cmd",
}


def build(only: str | None = None) -> typer.Typer:
    """The command tree; with `only`, just that noun (plus `version`)."""
    import importlib

    import typer

    from ductile.cli.root import root, version_cmd

    app = typer.Typer(
        name="ductile",
        help="Automation runtime: plugins as jobs in a durable SQLite queue, on schedules, over an HTTP API.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    app.callback(invoke_without_command=True)(root)
    app.command("version")(version_cmd)
    for name, module in GROUPS.items():
        if only in (None, name):
            app.add_typer(importlib.import_module(module).app, name=name)
    registered: set[str] = set()  # a module may register several commands (unsupported_cmd)
    for name, module in COMMANDS.items():
        if only in (None, name) and module not in registered:
            registered.add(module)
            importlib.import_module(module).register(app)
    return app


def main() -> int | None:
    from ductile.cli import fast

    code = fast.run(sys.argv[1:], os.environ)
    if code is not None:
        return code
    first = next((arg for arg in sys.argv[1:] if not arg.startswith("-")), None)
    build(first if first in GROUPS or first in COMMANDS else None)()
    return None


if __name__ == "__main__":
    sys.exit(main())
