"""`ductile config check|show`."""

from __future__ import annotations

from typing import Any

import typer
import yaml

from ductile.cli.common import ConfigOption, JsonOption, config_or_exit, print_json
from ductile.config import ConfigError
from ductile.gateway import prepare
from ductile.redact import redact

app = typer.Typer(help="Validate and inspect configuration.", no_args_is_help=True)


@app.command("check")
def check(config: ConfigOption = None, json_out: JsonOption = False) -> None:
    """Validate everything; print each problem as `file: key.path: what is wrong (what is accepted)`."""
    try:
        setup = prepare(config)
    except ConfigError as exc:
        if json_out:
            print_json({"ok": False, "problems": exc.problems})
        else:
            for problem in exc.problems:
                typer.echo(problem, err=True)
            typer.echo(f"{len(exc.problems)} problem(s) found", err=True)
        raise typer.Exit(1)
    warnings = setup.warnings
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
    effective = shown(loaded.config.model_dump(mode="json"))
    if json_out:
        print_json(effective)
    else:
        typer.echo(yaml.safe_dump(effective, sort_keys=False).rstrip())


def shown(effective: dict[str, Any]) -> dict[str, Any]:
    """The config through the redaction rule. `api.auth` and its `tokens` have secret-like names,
    so the rule alone would print `auth: '***'`; their entries are the gateway's own schema, so the
    rule is applied inside each token instead: names and scopes stay visible, `token` and
    `token_sha256` are masked."""
    out = redact(effective)
    auth = effective.get("api", {}).get("auth")
    if isinstance(auth, dict):
        out["api"]["auth"] = {
            k: [redact(t) for t in v] if k == "tokens" and isinstance(v, list) else redact(v, k)
            for k, v in auth.items()
        }
    return out
