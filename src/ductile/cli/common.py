"""Helpers shared by the CLI modules: option types, error exit, JSON output."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any, NoReturn

import typer

ConfigOption = Annotated[
    str | None,
    typer.Option("--config", "-c", help="Config directory or file (default: $DUCTILE_CONFIG, then ~/.config/ductile)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code)


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")
