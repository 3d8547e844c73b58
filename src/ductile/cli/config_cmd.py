"""`ductile config check|show`."""

from __future__ import annotations

import typer
import yaml

from ductile.cli.common import ConfigOption, JsonOption, config_or_exit, print_json
from ductile.config import ConfigError, redact
from ductile.gateway import prepare

app = typer.Typer(help="Validate and inspect configuration.", no_args_is_help=True)


@app.command("check")
def check(config: ConfigOption = None, json_out: JsonOption = False) -> None:
    """Validate everything; print each problem as `file: key.path: what is wrong (what is accepted)`."""
    try:
        setup = prepare(config)
    except ConfigError as exc:
        config_warnings = exc.partial.warnings if exc.partial is not None else []
        if json_out:
            print_json({"ok": False, "problems": exc.problems, "warnings": config_warnings})
        else:
            for problem in exc.problems:
                typer.echo(problem, err=True)
            for warning in config_warnings:
                typer.echo(f"warning: {warning}", err=True)
            typer.echo(f"{len(exc.problems)} problem(s) found", err=True)
        raise typer.Exit(1)
    warnings = [*setup.loaded.warnings, *setup.discovery.warnings]
    if json_out:
        print_json(
            {
                "ok": True,
                "config": str(setup.loaded.path),
                "instances": sorted(setup.registry.instances),
                "warnings": warnings,
            }
        )
        return
    for warning in warnings:
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(f"{setup.loaded.path}: OK ({len(setup.registry.instances)} plugin instance(s))")


@app.command("show")
def show(config: ConfigOption = None, json_out: JsonOption = False) -> None:
    """Print the effective (merged, defaulted) config with secrets redacted."""
    loaded = config_or_exit(config)
    effective = redact(loaded.config.model_dump(mode="json"))
    if json_out:
        print_json(effective)
    else:
        typer.echo(yaml.safe_dump(effective, sort_keys=False).rstrip())
