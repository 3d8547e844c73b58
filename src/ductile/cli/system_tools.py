"""`ductile system scheduler|plugin-facts|backup|restore|selfcheck|stop|restart`: Ductile's operator tools (restore is ours).

They read the database file directly with a read-only connection (safe beside a running gateway:
WAL lets readers and the one writer proceed together), so they work whether or not a gateway runs.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from ductile.cli.common import ConfigOption, JsonOption, config_or_exit, fail, print_json
from ductile.config import LoadedConfig, no_database

LIFECYCLE_MESSAGE = "ductile system {action} does not exist — the service manager owns the daemon lifecycle."


def register(app: typer.Typer) -> None:
    app.command("scheduler")(scheduler)
    app.command("plugin-facts")(plugin_facts)
    app.command("backup")(backup)
    app.command("restore")(restore)
    app.command("selfcheck")(selfcheck)
    app.command("stop", help="Not a command (Ductile compatibility): the service manager stops the gateway.")(stop)
    app.command("restart", help="Not a command (Ductile compatibility): the service manager restarts it.")(restart)


@contextmanager
def _read_only(loaded: LoadedConfig) -> Iterator[sqlite3.Connection]:
    path = loaded.db_path
    if not path.exists():
        fail(no_database(path))
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10.0)
    db.row_factory = sqlite3.Row
    try:
        yield db
    finally:
        db.close()


def scheduler(config: ConfigOption = None, json_out: JsonOption = False) -> None:
    """Scheduler-submitted jobs that are queued or running now (oldest first)."""
    loaded = config_or_exit(config)
    with _read_only(loaded) as db:
        rows = [
            dict(r)
            for r in db.execute(
                "SELECT job_id, plugin, command, status, attempt, created_at, started_at, next_retry_at FROM jobs "
                "WHERE submitted_by = 'scheduler' AND status IN ('queued', 'running') ORDER BY created_at, job_id"
            )
        ]
    if json_out:
        print_json({"jobs": rows, "total": len(rows)})
        return
    if not rows:
        typer.echo("no scheduler jobs queued or running")
    for r in rows:
        typer.echo(f"{r['created_at']}  {r['status']:8} {r['plugin']}:{r['command']}  job={r['job_id']}")


def plugin_facts(
    plugin: Annotated[str, typer.Argument(help="Plugin instance.")],
    fact_type: Annotated[str | None, typer.Option("--fact-type", help="Only this fact type.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="Newest N (1..1000).")] = 50,
    config: ConfigOption = None,
    json_out: JsonOption = False,
) -> None:
    """Facts a plugin recorded (`state_updates` facts), newest first."""
    loaded = config_or_exit(config)
    sql = (
        "SELECT f.id, f.instance AS plugin, f.fact_type, f.job_id, j.command, f.data, f.created_at "
        "FROM facts f LEFT JOIN jobs j ON j.job_id = f.job_id WHERE f.instance = ?"
    )
    params: list[Any] = [plugin]
    if fact_type:
        sql += " AND f.fact_type = ?"
        params.append(fact_type)
    sql += " ORDER BY f.id DESC LIMIT ?"
    params.append(limit)
    with _read_only(loaded) as db:
        rows = [dict(r) for r in db.execute(sql, params)]
    for row in rows:
        try:
            row["fact"] = json.loads(row.pop("data"))
        except ValueError:
            row["fact"] = None
    if json_out:
        print_json(rows)
        return
    if not rows:
        typer.echo(f"no facts for {plugin}" + (f" of type {fact_type}" if fact_type else ""))
    for row in rows:
        typer.echo(
            f"{row['created_at']}  #{row['id']} {row['fact_type']}  job={row['job_id']}  "
            + json.dumps(row["fact"], ensure_ascii=False)[:300]
        )


def backup(
    to: Annotated[
        str,
        typer.Option("--to", help="Target file: *.tar.gz / *.tgz (an archive) or any other name (the database only)."),
    ],
    scope: Annotated[
        str | None,
        typer.Option(
            "--scope",
            help="db | config | plugins | all, each holding the one before: the database; + the config files "
            "(default for an archive); + the plugin roots; + the environment_vars files.",
        ),
    ] = None,
    config: ConfigOption = None,
    json_out: JsonOption = False,
) -> None:
    """Back up the database (online, consistent: a gateway may keep running) and, into a .tar.gz, the
    config files, plugin roots and env files as --scope says, with a BACKUP_MANIFEST.txt. Never overwrites."""
    from ductile import backup as backups

    loaded = config_or_exit(config)
    target = Path(to).expanduser().resolve()
    try:
        chosen = backups.scope_for(target, scope)
        planned = backups.plan(loaded, chosen)
        manifest = backups.write(planned, target)
    except backups.BackupError as exc:
        fail(str(exc))
    except (OSError, sqlite3.Error) as exc:
        fail(f"backup failed, nothing was written to {target}: {exc}")
    included = manifest["included"]
    assert isinstance(included, list)
    if json_out:  # the manifest, and where it went: for scripts and agents
        print_json({"target": str(target), "bytes": target.stat().st_size, **manifest})
        return
    if not backups.is_archive(target):
        typer.echo(f"database backed up to {target}")
    else:
        typer.echo(f"{len(included)} file(s) backed up to {target} (scope {chosen}; list in {backups.MANIFEST})")
    for warning in manifest.get("warnings", []) or []:  # type: ignore[union-attr]
        typer.echo(f"warning: {warning}")


def restore(
    source: Annotated[
        str, typer.Option("--from", help="A backup archive (*.tar.gz from `system backup`) or a database file.")
    ],
    config: ConfigOption = None,
    json_out: JsonOption = False,
) -> None:
    """Put a backup's database back: with no gateway running, checked (manifest SHA-256, integrity,
    schema version), the database that was there moved aside with its -wal/-shm, never deleted."""
    from ductile import restore as restoring
    from ductile.lock import LockError
    from ductile.timeutil import utcnow

    loaded = config_or_exit(config)
    if loaded.config.database.postgres:
        fail("the database is PostgreSQL: restore it with pg_restore (docs/DEPLOYMENT.md)")
    try:
        done = restoring.restore(Path(source).expanduser().resolve(), loaded.db_path, utcnow())
    except (restoring.RestoreError, LockError) as exc:
        fail(str(exc))
    except (OSError, sqlite3.Error) as exc:
        fail(f"restore failed, {loaded.db_path} was left as it was: {exc}")
    if json_out:
        print_json(
            {
                "database": str(done.database),
                "from": str(done.source),
                "schema_version": done.schema_version,
                "jobs": done.jobs,
                "replaced": [str(p) for p in done.replaced],
            }
        )
        return
    typer.echo(f"restored {done.database} from {done.source} (schema {done.schema_version}, {done.jobs} jobs)")
    for aside in done.replaced:
        typer.echo(f"  the file that was there is now {aside}")
    typer.echo("start the gateway: jobs that were running when the backup was made are re-queued by crash recovery")


def selfcheck(config: ConfigOption = None, json_out: JsonOption = False) -> None:
    """Database health: lock, PRAGMA integrity_check, schema version, queue invariants. Exit 1 on a failure."""
    from ductile import selfcheck as checking

    loaded = config_or_exit(config)
    try:
        checks = checking.run_for(loaded)
    except FileNotFoundError as exc:
        fail(str(exc))
    ok = checking.passed(checks)
    if json_out:
        postgres = isinstance(loaded.store_target, str)
        print_json({"ok": ok, "database": "postgresql" if postgres else str(loaded.db_path), "checks": checks})
    else:
        marks = {"ok": "ok  ", "fail": "FAIL", "warn": "warn", "skipped": "skip"}
        for c in checks:
            typer.echo(f"{marks[c['status']]}  {c['name']}: {c['detail']}")
        typer.echo("selfcheck passed" if ok else "selfcheck FAILED")
    if not ok:
        raise typer.Exit(1)


def stop() -> None:
    fail(LIFECYCLE_MESSAGE.format(action="stop"))


def restart() -> None:
    fail(LIFECYCLE_MESSAGE.format(action="restart"))
