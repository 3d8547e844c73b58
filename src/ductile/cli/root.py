"""The Typer root of `ductile`: `--version` and `ductile version` (imported only when Typer runs)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Annotated

import typer


def version_info() -> dict[str, str]:
    """Version, and the commit when running from a git checkout; `unknown` when that cannot be known."""
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
    info = version_info()
    if json_out:
        typer.echo(json.dumps(info, indent=2))
    else:
        typer.echo(f"ductile {info['version']}\ncommit: {info['commit']}\nbuilt_at: {info['build_time']}")


def root(
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
