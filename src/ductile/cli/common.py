"""Helpers shared by the CLI modules: option types, config loading, error exit, JSON output."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:  # imported where used: the config models and the gateway cost ~0.4 s to import
    from ductile.config import LoadedConfig
    from ductile.gateway import Setup

ConfigOption = Annotated[
    str | None,
    typer.Option("--config", "-c", help="Config directory or file (default: $DUCTILE_CONFIG, then ~/.config/ductile)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
TokenOption = Annotated[
    str | None,
    typer.Option("--token", envvar="DUCTILE_TOKEN", help="Bearer token.", show_default=False),
]


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code)


def require_database(loaded: LoadedConfig, *, prefix: str = "", hint: str = "") -> None:
    """Commands that read or change the local SQLite database never create one: opening a store
    on a missing file would make an empty database and answer as if nothing had ever run."""
    missing = loaded.missing_database
    if missing:
        fail(prefix + missing + hint)


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


def config_or_exit(config: str | None, hint: str = "") -> LoadedConfig:
    """The validated config, or every problem on stderr and exit 1."""
    from ductile.config import ConfigError, load_config

    try:
        return load_config(config)
    except ConfigError as exc:
        fail("\n".join(exc.problems) + (f"\n{hint}" if hint else ""))


def setup_or_exit(config: str | None) -> Setup:
    """Config checked against the discovered plugins, or every problem on stderr and exit 1."""
    from ductile.config import ConfigError
    from ductile.gateway import prepare

    try:
        return prepare(config)
    except ConfigError as exc:
        fail("\n".join(exc.problems))
