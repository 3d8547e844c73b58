"""`ductile system install-service`: write the systemd unit for the current config.

The config is checked first (the same one pass as `config check`): a unit that would start a
gateway which refuses its config is worse than no unit, because systemd would restart it forever.
"""

from __future__ import annotations

import os
import pwd
import sys
from pathlib import Path
from typing import Annotated

import typer

from ductile.cli.common import ConfigOption, fail, setup_or_exit
from ductile.service_unit import UnitSpec, render

SYSTEM_UNIT = Path("/etc/systemd/system/ductile.service")


def register(app: typer.Typer) -> None:
    app.command("install-service")(install_service)


def _executable() -> Path:
    """The `ductile` script of the running interpreter's environment (a venv, usually)."""
    beside = Path(sys.executable).parent / "ductile"
    if beside.exists():
        return beside.absolute()
    argv0 = Path(sys.argv[0])
    if argv0.name == "ductile" and argv0.exists():
        return argv0.resolve()
    fail(f"cannot find the ductile command next to {sys.executable}; run this from the installed ductile")


def _owner(path: Path) -> str | None:
    try:
        name = pwd.getpwuid(path.stat().st_uid).pw_name
    except (KeyError, OSError):
        return None
    return None if name == "root" else name


def install_service(
    config: ConfigOption = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help=f"Where to write the unit (default: {SYSTEM_UNIT}, or the user unit dir)."),
    ] = None,
    user_unit: Annotated[bool, typer.Option("--user", help="Write a `systemctl --user` unit instead.")] = False,
    run_as: Annotated[
        str | None, typer.Option("--run-as", help="Account for User= (default: the config directory's owner).")
    ] = None,
    writable: Annotated[
        list[Path] | None,
        typer.Option("--writable", help="Extra directory plugins write to (repeatable); added to ReadWritePaths."),
    ] = None,
    environment_file: Annotated[
        Path | None, typer.Option("--environment-file", help="EnvironmentFile= for secrets (e.g. /etc/ductile/env).")
    ] = None,
    print_only: Annotated[bool, typer.Option("--print", help="Print the unit instead of writing it.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing unit file.")] = False,
) -> None:
    """Write a systemd unit (Type=notify, watchdog, Restart=on-failure, sandboxed) for this config."""
    setup = setup_or_exit(config)
    loaded = setup.loaded
    config_path = (loaded.path.parent if loaded.path.name == "config.yaml" else loaded.path).absolute()
    if run_as is not None:
        try:
            pwd.getpwnam(run_as)
        except KeyError:
            fail(f"--run-as: no account named {run_as!r} on this machine")
    service = loaded.config.service
    extra_paths = [p.absolute() for p in writable or []]
    missing = [str(p) for p in extra_paths if not p.is_dir()]
    if missing:
        fail(f"--writable: not a directory: {', '.join(missing)} (ReadWritePaths needs existing directories)")
    spec = UnitSpec(
        executable=_executable(),
        config=config_path,
        working_directory=loaded.path.parent.absolute(),
        writable=(loaded.db_path.parent.absolute(), *extra_paths),
        drain_grace=service.drain_grace,
        kill_grace=service.kill_grace,
        user=None if user_unit else (run_as or _owner(config_path)),
        user_unit=user_unit,
        environment_file=environment_file.absolute() if environment_file else None,
    )
    text = render(spec)
    if print_only:
        typer.echo(text, nl=False)
        return
    if output is None:
        home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
        output = home / "systemd" / "user" / "ductile.service" if user_unit else SYSTEM_UNIT
    if output.exists() and not force:
        fail(f"{output} already exists; pass --force to overwrite it, or --output for another path")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc} (run as root for a system unit, or use --user)")
    manager = "systemctl --user" if user_unit else "systemctl"
    typer.echo(f"wrote {output}")
    typer.echo(f"next: {manager} daemon-reload && {manager} enable --now {output.stem}")
