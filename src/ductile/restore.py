"""`ductile system restore --from FILE`: put a backup's database back, the way an operator would
by hand, without the ways that goes wrong.

The steps people get wrong by hand, and what this does instead: copying over a database whose
`-wal` file is still there (SQLite would replay that WAL onto the restored file), restoring while
a gateway runs, restoring a damaged or foreign file, or losing the database that was there. So:
the database lock is taken for the whole restore (no gateway can be running or start meanwhile);
the backup's database is extracted next to the target, checked against the manifest's SHA-256,
`PRAGMA integrity_check` and the schema version this ductile knows; the database that was there
is moved aside with its `-wal` and `-shm` under one `.replaced-<time>` suffix, never deleted; then
the restored file is renamed into place. Only the database is restored: config files, plugin
roots and env files stay in the archive for the operator to compare and copy.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import tarfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import yaml

from ductile.backup import MANIFEST, is_archive, snapshot_database
from ductile.lock import DatabaseLock
from ductile.store import queries

SIDECARS = ("-wal", "-shm")


class RestoreError(Exception):
    """A restore that cannot be done as asked; the message says what was wrong and what to do."""


@dataclass
class Restored:
    database: Path
    source: Path
    replaced: list[Path] = field(default_factory=list)  # the files moved aside
    schema_version: int = 0
    jobs: int = 0


def restore(source: Path, database: Path, now: datetime) -> Restored:
    """Restore `source` (an archive from `system backup` or a plain database file) to `database`."""
    if not source.is_file():
        raise RestoreError(f"--from: {source} is not a file (accepted: a backup archive or database file)")
    lock = DatabaseLock(database)
    lock.acquire()  # LockHeld names the running gateway; nothing was touched yet
    try:
        staged = database.with_name(f".{database.name}.restoring")
        staged.unlink(missing_ok=True)
        try:
            _stage(source, staged)
            version, jobs = _check(staged, source)
            done = Restored(database, source, schema_version=version, jobs=jobs)
            stamp = now.strftime("%Y%m%dT%H%M%SZ")
            moves = [
                (current, database.with_name(f"{database.name}.replaced-{stamp}{suffix}"))
                for suffix in ("", *SIDECARS)
                if (current := database.with_name(database.name + suffix)).exists()
            ]
            taken = [aside for _, aside in moves if aside.exists()]
            if taken:
                raise RestoreError(f"{taken[0]} already exists; wait a second and run the restore again")
            moved: list[tuple[Path, Path]] = []
            try:
                for current, aside in moves:
                    current.rename(aside)
                    moved.append((current, aside))
                os.rename(staged, database)
            except OSError:
                for current, aside in reversed(moved):  # put back what was moved: as it was before
                    aside.rename(current)
                raise
            done.replaced = [aside for _, aside in moves]
            _fsync_dir(database.parent)
            return done
        finally:
            for suffix in ("", *SIDECARS):
                staged.with_name(staged.name + suffix).unlink(missing_ok=True)
    finally:
        lock.release()


def _stage(source: Path, staged: Path) -> None:
    """The backup's database bytes at `staged`; for an archive, checked against its manifest."""
    if not is_archive(source):
        try:
            snapshot_database(source, staged)  # through SQLite: a `-wal` beside it counts
        except sqlite3.DatabaseError as exc:
            raise RestoreError(f"{source}: not an SQLite database ({exc})") from exc
        return
    try:
        with tarfile.open(source, "r:gz") as tar:
            names = tar.getnames()
            manifest = _manifest(tar, source)
            databases = [n for n in names if n.startswith("db/") and "/" not in n[3:] and n != "db/"]
            if len(databases) != 1:
                raise RestoreError(
                    f"{source} holds no database (scope {manifest.get('scope')!r}; a PostgreSQL backup "
                    "is restored with pg_restore)"
                    if not databases
                    else f"{source} holds {len(databases)} databases ({', '.join(databases)}); expected one under db/"
                )
            member = tar.extractfile(databases[0])
            if member is None:
                raise RestoreError(f"{source}: {databases[0]} is not a regular file")
            digest = hashlib.sha256()
            with member, staged.open("xb") as out:
                while chunk := member.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
    except (tarfile.TarError, EOFError, OSError) as exc:
        if isinstance(exc, FileExistsError):
            raise
        raise RestoreError(f"{source} is not a readable backup archive ({exc})") from exc
    expected = manifest.get("source_db_sha256")
    if expected != digest.hexdigest():
        raise RestoreError(
            f"{source}: the database's SHA-256 is {digest.hexdigest()}, the manifest says {expected!r} "
            "(the archive is damaged or was changed); nothing was restored"
        )


def _manifest(tar: tarfile.TarFile, source: Path) -> dict[str, object]:
    try:
        member = tar.extractfile(MANIFEST)
    except KeyError:
        member = None
    if member is None:
        raise RestoreError(f"{source} has no {MANIFEST}: not an archive made by `ductile system backup`")
    data = yaml.safe_load(member.read())
    if not isinstance(data, dict):
        raise RestoreError(f"{source}: {MANIFEST} is not a YAML mapping")
    return data


def _check(staged: Path, source: Path) -> tuple[int, int]:
    """The staged file is an intact ductile database this version can run: (schema version, jobs)."""
    latest = queries.migrations()[-1][0]
    try:
        db = sqlite3.connect(staged, isolation_level=None)  # our private copy: checked, then settled
        try:
            integrity = [r[0] for r in db.execute("PRAGMA integrity_check")]
            if integrity != ["ok"]:
                raise RestoreError(f"{source}: the database fails PRAGMA integrity_check: {'; '.join(integrity[:3])}")
            try:
                version = db.execute("SELECT max(version) FROM schema_version").fetchone()[0]
                jobs = db.execute("SELECT count(*) FROM jobs").fetchone()[0]
            except sqlite3.Error as exc:
                raise RestoreError(f"{source}: not a ductile database ({exc})") from exc
            # One self-contained file, no -wal/-shm of its own beside it after the rename; the
            # gateway puts it back in WAL mode when it opens it.
            db.execute("PRAGMA journal_mode=DELETE")
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        raise RestoreError(f"{source}: not an SQLite database ({exc})") from exc
    if version is None:
        raise RestoreError(f"{source}: not a ductile database (its schema_version table is empty)")
    if version > latest:
        raise RestoreError(
            f"{source}: schema version {version} was made by a newer ductile (this one knows up to {latest}); "
            "restore it with that version"
        )
    return int(version), int(jobs)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
