"""`ductile config check|show|get`."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
import yaml

from ductile.cli.common import ConfigOption, JsonOption, config_or_exit, fail, print_json
from ductile.config import ConfigError
from ductile.gateway import prepare
from ductile.redact import redact_config

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
    effective = redact_config(loaded.config.model_dump(mode="json"))
    if json_out:
        print_json(effective)
    else:
        typer.echo(yaml.safe_dump(effective, sort_keys=False).rstrip())


_MISSING = object()


def _walk(data: Any, parts: list[str]) -> Any:
    for part in parts:
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return _MISSING
    return data


def _parts(path: str) -> list[str]:
    """`service.name`, or Ductile's entity form `plugin:<name>[.key...]` for `plugins.<name>`."""
    if path.startswith("plugin:"):
        name, _, rest = path[len("plugin:") :].partition(".")
        return ["plugins", name, *([p for p in rest.split(".") if p] if rest else [])]
    return [p for p in path.split(".") if p]


@app.command("get")
def get(
    path: Annotated[str, typer.Argument(help="Dot path (service.max_workers) or plugin:<name>.")],
    config: ConfigOption = None,
    config_dir: Annotated[str | None, typer.Option("--config-dir", help="Alias of --config (Ductile).")] = None,
    json_out: JsonOption = False,
    effective: Annotated[
        bool, typer.Option("--effective", help="Also say whether the value is explicit or a default.")
    ] = False,
) -> None:
    """One value of the effective config (secrets redacted); exit 1 when the path does not exist."""
    loaded = config_or_exit(config or config_dir)
    parts = _parts(path)
    value = _walk(redact_config(loaded.config.model_dump(mode="json")), parts)
    if value is _MISSING:
        fail(f"config path {path!r} not found (accepted: a dot path such as service.max_workers, or plugin:<name>)")
    aliases = [parts, ["state", *parts[1:]]] if parts[:1] == ["database"] else [parts]  # Ductile's state:
    source = "explicit" if any(_walk(loaded.raw, p) is not _MISSING for p in aliases) else "default"
    if json_out:
        print_json({"value": value, "source": source} if effective else value)
        return
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    typer.echo(f"{text} ({source})" if effective else text)
