"""`ductile system backup`: what goes into an archive (`plan`, pure apart from walking the plugin
roots) and writing it so that a failed backup leaves nothing behind (`write`).

Scopes nest as Ductile's do — `db` ⊂ `config` ⊂ `plugins` ⊂ `all` — so a restore script written
for Ductile's archive layout finds the same top-level folders (`db/`, `config/`, `plugins/`,
`env/`) and a `BACKUP_MANIFEST.txt` (YAML) saying what is in it, from where, and what was left out
on purpose. The database is copied through SQLite's online backup API, so a gateway may keep
writing meanwhile. On PostgreSQL the database is not ours to copy (`pg_dump` does that); the
file scopes still work and the manifest says the database is not in the archive.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import socket
import sqlite3
import tarfile
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ductile import __version__
from ductile.config import LoadedConfig
from ductile.config_compat import env_include_paths
from ductile.timeutil import to_text, utcnow

SCOPES = ("db", "config", "plugins", "all")
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz")
MANIFEST = "BACKUP_MANIFEST.txt"
# Rebuilt on the target host, or not the plugin's own: left out of `plugins` and `all`.
SKIP_NAMES = frozenset({".git", "node_modules", ".venv", "venv", "__pycache__", ".DS_Store"})
SKIP_SUFFIXES = (".pyc", ".pyo")


class BackupError(Exception):
    """A backup that cannot be made as asked; the message says what was wrong and what is accepted."""


@dataclass
class Plan:
    scope: str
    database: Path | None  # the SQLite file to snapshot; None on PostgreSQL
    files: list[tuple[Path, str]] = field(default_factory=list)  # (source, name in the archive)
    excluded: list[dict[str, object]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    plugin_roots: list[dict[str, str]] = field(default_factory=list)
    env_files: list[dict[str, str]] = field(default_factory=list)
    source_config_dir: str = ""


def is_archive(path: Path) -> bool:
    """A `.tar.gz`/`.tgz` name: an archive; any other name is a database file alone."""
    return path.name.endswith(ARCHIVE_SUFFIXES)


def scope_for(target: Path, scope: str | None) -> str:
    """The scope to use: `config` for an archive and `db` for a plain file unless given; a plain
    file can only hold the database."""
    archive = is_archive(target)
    if scope is None:
        return "config" if archive else "db"
    chosen = scope.strip().lower()
    if chosen not in SCOPES:
        raise BackupError(f"--scope: {scope!r} is not accepted (accepted: {', '.join(SCOPES)}; default config)")
    if chosen != "db" and not archive:
        raise BackupError(
            f"--scope {chosen} needs a .tar.gz (or .tgz) target; {target.name} would hold the database only "
            "(accepted for a plain file: --scope db)"
        )
    return chosen


def plan(loaded: LoadedConfig, scope: str) -> Plan:
    """Everything the archive will hold, decided before anything is written."""
    level = SCOPES.index(scope)
    postgres = loaded.config.database.postgres
    out = Plan(scope=scope, database=None if postgres else loaded.db_path)
    if postgres:
        if scope == "db":
            raise BackupError(
                "the database is PostgreSQL: back it up with pg_dump (docs/DEPLOYMENT.md); "
                "--scope config, plugins or all archive the files around it"
            )
        out.warnings.append("the database is PostgreSQL and is not in this archive: back it up with pg_dump")
    elif loaded.missing_database:
        raise BackupError(loaded.missing_database)
    if level >= 1:
        out.source_config_dir = str(loaded.directory)
        for source in sorted({loaded.path, *loaded.origins.values()}):
            out.files.append((source, "config/" + _config_name(source, loaded.directory)))
        out.warnings.append("the config files may hold API tokens and webhook secrets: keep the archive private")
    if level >= 2:
        used: dict[str, int] = {}
        for root in loaded.plugin_roots:
            if not root.is_dir():
                out.warnings.append(f"plugin root {root} is not a directory: nothing from it is in the archive")
                continue
            name = _unique(root.name or "root", used)
            out.plugin_roots.append({"archive_path": f"plugins/{name}", "source_path": str(root)})
            out.files.extend((path, f"plugins/{name}/{rel}") for path, rel in _plugin_files(root))
        skipped = [*sorted(SKIP_NAMES), *(f"*{suffix}" for suffix in SKIP_SUFFIXES), "symlinks, sockets, devices"]
        out.excluded.append({"reason": "in plugin roots: rebuilt on the target host, or not a regular file", "items": skipped})
    else:
        out.excluded.append({"reason": f"scope {scope} < plugins", "items": ["plugin_roots"]})
    if level >= 3:
        used = {}
        folders: dict[Path, str] = {}  # one archive folder per source folder
        for path in env_include_paths(loaded.path):
            if not path.is_file():
                raise BackupError(f"environment_vars.include: {path} cannot be read (is it still there?)")
            if path.parent not in folders:
                folders[path.parent] = _unique(path.parent.name or "root", used)
            name = f"env/{folders[path.parent]}/{path.name}"
            out.env_files.append({"archive_path": name, "source_path": str(path)})
            out.files.append((path, name))
        if out.env_files:
            out.warnings.append("the environment_vars files hold secrets: encrypt the archive at rest")
    else:
        out.excluded.append({"reason": f"scope {scope} < all", "items": ["environment_vars files"]})
    return out


def write(result: Plan, target: Path) -> dict[str, object]:
    """Write the database snapshot (a plain file) or the archive to `target`, mode 0600, never over an
    existing file; returns the manifest. Built beside the target and linked into place at the end,
    so a failure (disk full, an unreadable file) leaves no partial backup."""
    if target.exists():
        raise _exists(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}.") as tmp:
        work = Path(tmp)
        snapshot = work / "snapshot.db"
        digest = ""
        if result.database is not None:
            snapshot_database(result.database, snapshot)
            digest = _sha256(snapshot)
        manifest = _manifest(result, digest)
        partial = work / "partial"
        if not is_archive(target):  # scope_for allows only `db` here
            snapshot.rename(partial)
        else:
            with tarfile.open(partial, "w:gz") as tar:
                if result.database is not None:
                    tar.add(snapshot, arcname=f"db/{result.database.name}")
                for source, name in result.files:
                    tar.add(source, arcname=name, recursive=False)
                _add_bytes(tar, MANIFEST, yaml.safe_dump(manifest, sort_keys=False).encode())
        partial.chmod(0o600)
        with partial.open("rb") as done:
            os.fsync(done.fileno())  # on disk before it is called a backup
        _place(partial, target)
    return manifest


def _place(partial: Path, target: Path) -> None:
    """Put the finished file at `target`, never over one made meanwhile: a hard link where the
    filesystem has them (all or nothing), else an exclusive create and a copy that is removed
    again if it fails (vfat, some network shares)."""
    try:
        os.link(partial, target)
        return
    except FileExistsError:
        raise _exists(target) from None
    except OSError:
        pass  # no hard links here
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise _exists(target) from None
    try:
        with os.fdopen(fd, "wb") as out, partial.open("rb") as source:
            shutil.copyfileobj(source, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        target.unlink(missing_ok=True)
        raise


def _manifest(result: Plan, digest: str) -> dict[str, object]:
    included = ([f"db/{result.database.name}"] if result.database is not None else []) + [n for _, n in result.files]
    manifest: dict[str, object] = {
        "ductile_version": __version__,
        "hostname": socket.gethostname(),
        "created_at": to_text(utcnow()),
        "scope": result.scope,
        "source_db_path": str(result.database) if result.database is not None else "postgresql (not included)",
        "source_db_sha256": digest,
        "source_config_dir": result.source_config_dir,
        "included": included,
        "excluded": result.excluded,
    }
    for key, value in (
        ("plugin_roots", result.plugin_roots),
        ("env_files", result.env_files),
        ("warnings", result.warnings),
    ):
        if value:
            manifest[key] = value
    return manifest


def _exists(target: Path) -> BackupError:
    return BackupError(f"{target} already exists (accepted: a new file name; a backup never overwrites)")


def snapshot_database(database: Path, target: Path) -> None:
    """A consistent copy through SQLite's online backup API: safe while a gateway writes, and it
    reads through the `-wal` (a byte copy of the file alone would miss its latest commits)."""
    source = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10.0)
    dest = sqlite3.connect(target)
    try:
        source.backup(dest)
    finally:
        dest.close()
        source.close()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _add_bytes(tar: tarfile.TarFile, name: str, body: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(body)
    info.mode = 0o600
    info.mtime = int(time.time())
    tar.addfile(info, io.BytesIO(body))


def _config_name(source: Path, directory: Path) -> str:
    """Config files keep their place relative to the root config's directory; one outside it
    (an absolute include) goes under `outside/` with its whole path, so two files of the same
    name never collide."""
    try:
        return source.relative_to(directory).as_posix()
    except ValueError:
        return "outside/" + source.as_posix().lstrip("/")


def _unique(name: str, used: dict[str, int]) -> str:
    seen = used.get(name, 0)
    used[name] = seen + 1
    return name if seen == 0 else f"{name}-{seen}"


def _plugin_files(root: Path) -> Iterable[tuple[Path, str]]:
    """Regular files under `root` (relative names, sorted), without VCS and build artefacts."""
    found: list[tuple[Path, str]] = []
    for here, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_NAMES and not os.path.islink(os.path.join(here, d)))
        for name in files:
            path = Path(here) / name
            if name in SKIP_NAMES or name.endswith(SKIP_SUFFIXES) or path.is_symlink() or not path.is_file():
                continue
            found.append((path, path.relative_to(root).as_posix()))
    return sorted(found, key=lambda item: item[1])
