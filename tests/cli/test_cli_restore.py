"""`ductile system restore --from FILE`: the real CLI, real databases, real backups made by
`system backup`, and a real gateway holding the lock."""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
import tarfile
from pathlib import Path

import pytest
from conftest import OK_PLUGIN, GatewayProcess, base_config, free_port, make_plugin, run_ductile, write_config


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Made once per module (three CLI runs): a config, its database with two jobs, a backup."""
    root = tmp_path_factory.mktemp("restore")
    make_plugin(root / "plugins", "work", OK_PLUGIN)
    write_config(root / "gw", base_config([root / "plugins"], {"work": {}}))
    for _ in range(2):
        assert run_ductile("plugin", "run", "work", "--config", str(root / "gw")).returncode == 0
    made = run_ductile("system", "backup", "--to", str(root / "backup.tar.gz"), "--config", str(root / "gw"))
    assert made.returncode == 0, made.stderr
    return root


@pytest.fixture
def setup(made: Path, tmp_path: Path) -> tuple[Path, Path]:
    """Each test's own copy of the config (its plugin root stays shared, read-only), its database
    with two jobs, and the backup archive of it."""
    shutil.copytree(made / "gw", tmp_path / "gw")
    shutil.copy2(made / "backup.tar.gz", tmp_path / "backup.tar.gz")
    return tmp_path / "gw", tmp_path / "backup.tar.gz"


def jobs(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM jobs").fetchone()[0]


def test_a_backup_comes_back_and_what_was_there_is_kept_with_its_wal(setup: tuple[Path, Path]) -> None:
    config_dir, archive = setup
    db = config_dir / "data" / "ductile.db"
    assert run_ductile("plugin", "run", "work", "--config", str(config_dir)).returncode == 0  # a third job, after the backup
    (db.parent / "ductile.db-wal").write_bytes(b"a stale WAL that must not be replayed onto the backup")
    out = run_ductile("system", "restore", "--from", str(archive), "--config", str(config_dir), "--json")
    assert out.returncode == 0, out.stderr
    done = json.loads(out.stdout)
    assert done["database"] == str(db) and done["jobs"] == 2 and done["schema_version"] > 0
    aside = [Path(p) for p in done["replaced"]]
    assert len(aside) == 2
    assert aside[0].name.startswith("ductile.db.replaced-") and aside[1].name == aside[0].name + "-wal"
    assert jobs(aside[0]) == 3  # the database that was there, untouched
    assert aside[1].read_bytes().startswith(b"a stale WAL")
    assert not (db.parent / "ductile.db-wal").exists()  # nothing stale next to the restored file
    assert jobs(db) == 2
    listed = run_ductile("job", "list", "--config", str(config_dir), "--json")
    assert listed.returncode == 0 and len(json.loads(listed.stdout)["jobs"]) == 2
    assert [p.name for p in db.parent.iterdir() if ".restoring" in p.name] == []


def test_a_plain_database_file_is_restored_too(setup: tuple[Path, Path], tmp_path: Path) -> None:
    config_dir, _ = setup
    copy = tmp_path / "copy.db"
    assert run_ductile("system", "backup", "--to", str(copy), "--config", str(config_dir)).returncode == 0
    (config_dir / "data" / "ductile.db").unlink()
    out = run_ductile("system", "restore", "--from", str(copy), "--config", str(config_dir))
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"restored {config_dir / 'data' / 'ductile.db'} from {copy} (schema ")
    assert jobs(config_dir / "data" / "ductile.db") == 2
    assert [p.name for p in (config_dir / "data").iterdir() if ".restoring" in p.name] == []


def test_a_running_gateway_is_never_restored_under(tmp_path: Path) -> None:
    make_plugin(tmp_path / "plugins", "work", OK_PLUGIN)
    port = free_port()
    write_config(tmp_path / "gw", base_config([tmp_path / "plugins"], {"work": {}}, port=port))
    gw = GatewayProcess(tmp_path / "gw", port=port).start()
    try:
        copy = tmp_path / "copy.db"
        assert run_ductile("system", "backup", "--to", str(copy), "--config", str(gw.config_dir)).returncode == 0
        before = gw.db_path.stat().st_ino  # the gateway keeps writing it: the same file, not its bytes
        out = run_ductile("system", "restore", "--from", str(copy), "--config", str(gw.config_dir))
        assert out.returncode == 1
        assert "is in use by another gateway (pid" in out.stderr and "stop it first" in out.stderr
        assert gw.db_path.stat().st_ino == before
        assert not any(".replaced-" in p.name for p in gw.db_path.parent.iterdir())
    finally:
        gw.stop()


def _tamper(archive: Path, out: Path, change: str) -> None:
    """A copy of `archive` with its database bytes changed, or its manifest or database left out."""
    with tarfile.open(archive) as src, tarfile.open(out, "w:gz") as dst:
        for member in src.getmembers():
            data = src.extractfile(member)
            if change == "no-manifest" and member.name == "BACKUP_MANIFEST.txt":
                continue
            if change == "no-db" and member.name.startswith("db/"):
                continue
            if change == "flip" and member.name.startswith("db/"):
                body = bytearray(data.read())  # type: ignore[union-attr]
                body[200] ^= 0xFF
                member.size = len(body)
                dst.addfile(member, io.BytesIO(bytes(body)))
                continue
            dst.addfile(member, data)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("flip", "the database's SHA-256 is"),
        ("no-manifest", "has no BACKUP_MANIFEST.txt: not an archive made by `ductile system backup`"),
        ("no-db", "holds no database (scope 'config'; a PostgreSQL backup is restored with pg_restore)"),
    ],
)
def test_a_damaged_or_foreign_archive_changes_nothing(
    setup: tuple[Path, Path], tmp_path: Path, change: str, message: str
) -> None:
    config_dir, archive = setup
    bad = tmp_path / f"{change}.tar.gz"
    _tamper(archive, bad, change)
    db = config_dir / "data" / "ductile.db"
    def files() -> list[str]:  # the lock file a restore (or a gateway) creates is not data
        return sorted(p.name for p in db.parent.iterdir() if not p.name.endswith(".lock"))

    before = files()
    out = run_ductile("system", "restore", "--from", str(bad), "--config", str(config_dir))
    assert out.returncode == 1 and message in out.stderr, out.stderr
    assert files() == before
    assert jobs(db) == 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a database at all" * 100, "not an SQLite database"),
        (None, "not a ductile database"),
        ("empty-version", "not a ductile database (its schema_version table is empty)"),
    ],
)
def test_a_file_that_is_not_a_ductile_database_is_refused(
    setup: tuple[Path, Path], tmp_path: Path, content: bytes | str | None, message: str
) -> None:
    config_dir, _ = setup
    other = tmp_path / "other.db"
    if content == "empty-version":
        with sqlite3.connect(other) as conn:
            conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
            conn.execute("CREATE TABLE jobs (job_id TEXT)")
    elif content is None:
        with sqlite3.connect(other) as conn:
            conn.execute("CREATE TABLE notes (body TEXT)")
    else:
        assert isinstance(content, bytes)
        other.write_bytes(content)
    out = run_ductile("system", "restore", "--from", str(other), "--config", str(config_dir))
    assert out.returncode == 1 and message in out.stderr, out.stderr
    assert jobs(config_dir / "data" / "ductile.db") == 2


def test_a_database_from_a_newer_ductile_is_refused(setup: tuple[Path, Path], tmp_path: Path) -> None:
    config_dir, _ = setup
    newer = tmp_path / "newer.db"
    assert run_ductile("system", "backup", "--to", str(newer), "--config", str(config_dir)).returncode == 0
    conn = sqlite3.connect(newer)  # left open: the change stays in newer.db-wal, and must still count
    with conn:
        conn.execute("INSERT INTO schema_version (version) VALUES (99999)")
    out = run_ductile("system", "restore", "--from", str(newer), "--config", str(config_dir))
    conn.close()
    assert out.returncode == 1 and "schema version 99999 was made by a newer ductile" in out.stderr, out.stderr


def test_a_missing_file_is_named(setup: tuple[Path, Path], tmp_path: Path) -> None:
    config_dir, _ = setup
    out = run_ductile("system", "restore", "--from", str(tmp_path / "nope.tar.gz"), "--config", str(config_dir))
    assert out.returncode == 1 and "is not a file (accepted: a backup archive or database file)" in out.stderr


def test_if_the_last_rename_fails_everything_is_put_back(
    setup: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one step that cannot be checked first: the database that was there goes back in place."""
    import errno

    from ductile import restore as restoring
    from ductile.timeutil import utcnow

    config_dir, archive = setup
    db = config_dir / "data" / "ductile.db"
    (db.parent / "ductile.db-wal").write_bytes(b"")
    before = {p.name: p.stat().st_ino for p in db.parent.iterdir() if not p.name.endswith(".lock")}

    def refuse(src: object, dst: object) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(restoring.os, "rename", refuse)
    with pytest.raises(OSError, match="Input/output error"):
        restoring.restore(archive, db, utcnow())
    after = {p.name: p.stat().st_ino for p in db.parent.iterdir() if not p.name.endswith(".lock")}
    assert after == before  # the same files, the same inodes, nothing staged left behind
    assert jobs(db) == 2
