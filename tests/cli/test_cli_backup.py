"""`ductile system backup --scope db|config|plugins|all`: the real CLI on a real config, a real
database made by a real job, and the archive read back with `tarfile`."""

from __future__ import annotations

import hashlib
import sqlite3
import tarfile
from pathlib import Path

import pytest
import yaml
from conftest import OK_PLUGIN, base_config, make_plugin, run_ductile, write_config


@pytest.fixture
def setup(tmp_path: Path) -> Path:
    """A config dir with an include, an env file, one plugin root holding the artefacts a backup
    leaves out, and a database holding one job (queued by `plugin run` with no gateway running)."""
    roots = tmp_path / "plugins"
    make_plugin(roots, "work", OK_PLUGIN)
    (roots / "work" / "helper.py").write_text("VALUE = 1\n")
    for junk in (".git/config", "__pycache__/run.cpython-311.pyc", "node_modules/m/index.js", ".venv/bin/python"):
        (roots / "work" / junk).parent.mkdir(parents=True, exist_ok=True)
        (roots / "work" / junk).write_text("junk\n")
    (roots / "work" / "stale.pyc").write_bytes(b"\0")
    (roots / "work" / "link").symlink_to(roots / "work" / "helper.py")
    config_dir = tmp_path / "gw"
    config = base_config([roots], {"work": {}}, include=["extra/pipelines.yaml"])
    config["environment_vars"] = {"include": ["../secrets/app.env", "../secrets/db.env", "../other/secrets/app.env"]}
    write_config(config_dir, config)
    (config_dir / "extra").mkdir()
    (config_dir / "extra" / "pipelines.yaml").write_text("pipelines: []\n")
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "app.env").write_text("TOKEN=s3cret\n")
    (tmp_path / "secrets" / "db.env").write_text("DB_PASSWORD=s3cret\n")
    (tmp_path / "other" / "secrets").mkdir(parents=True)
    (tmp_path / "other" / "secrets" / "app.env").write_text("OTHER=1\n")
    out = run_ductile("plugin", "run", "work", "--config", str(config_dir))
    assert out.returncode == 0, out.stderr
    return config_dir


def names(archive: Path) -> list[str]:
    with tarfile.open(archive) as tar:
        return tar.getnames()


def manifest(archive: Path) -> dict:
    with tarfile.open(archive) as tar:
        member = tar.extractfile("BACKUP_MANIFEST.txt")
        assert member is not None
        return yaml.safe_load(member.read())


DB = {"db/ductile.db"}
CONFIG = DB | {"config/config.yaml", "config/extra/pipelines.yaml"}
PLUGINS = CONFIG | {"plugins/plugins/work/manifest.yaml", "plugins/plugins/work/run", "plugins/plugins/work/helper.py"}
ALL = PLUGINS | {"env/secrets/app.env", "env/secrets/db.env", "env/secrets-1/app.env"}  # two folders named secrets


@pytest.mark.parametrize(
    ("scope", "expected"), [("db", DB), ("config", CONFIG), ("plugins", PLUGINS), ("all", ALL), (None, CONFIG)]
)
def test_each_scope_holds_the_one_before_and_says_so_in_its_manifest(
    setup: Path, tmp_path: Path, scope: str | None, expected: set[str]
) -> None:
    archive = tmp_path / "out" / "backup.tar.gz"
    out = run_ductile("system", "backup", "--to", str(archive), *(["--scope", scope] if scope else []), "--config", str(setup))
    assert out.returncode == 0, out.stderr
    assert f"{len(expected)} file(s) backed up to {archive} (scope {scope or 'config'}" in out.stdout
    listed = names(archive)
    assert set(listed) == expected | {"BACKUP_MANIFEST.txt"}
    assert len(listed) == len(set(listed))  # nothing twice
    assert archive.stat().st_mode & 0o777 == 0o600
    body = manifest(archive)
    assert body["scope"] == (scope or "config")
    assert set(body["included"]) == expected
    with tarfile.open(archive) as tar:
        db_bytes = tar.extractfile("db/ductile.db").read()  # type: ignore[union-attr]
        if "plugins/plugins/work/run" in expected:
            assert tar.getmember("plugins/plugins/work/run").mode & 0o111  # still executable
    assert body["source_db_sha256"] == hashlib.sha256(db_bytes).hexdigest()
    restored = tmp_path / "restored.db"
    restored.write_bytes(db_bytes)
    with sqlite3.connect(restored) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("SELECT plugin FROM jobs").fetchall() == [("work",)]
    warnings = body.get("warnings", [])
    assert any("API tokens" in w for w in warnings) == (scope != "db")
    assert any("environment_vars" in w for w in warnings) == (scope == "all")


def test_a_plain_file_is_the_database_alone(setup: Path, tmp_path: Path) -> None:
    target = tmp_path / "copy.db"
    out = run_ductile("system", "backup", "--to", str(target), "--config", str(setup))
    assert out.returncode == 0 and out.stdout.strip() == f"database backed up to {target}"
    assert target.stat().st_mode & 0o777 == 0o600
    with sqlite3.connect(target) as db:
        assert db.execute("SELECT count(*) FROM jobs").fetchone()[0] == 1
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".copy.db")] == []  # no leftovers


@pytest.mark.parametrize(
    ("target", "scope", "message"),
    [
        ("b.tar.gz", "everything", "--scope: 'everything' is not accepted (accepted: db, config, plugins, all"),
        ("b.db", "config", "--scope config needs a .tar.gz (or .tgz) target; b.db would hold the database only"),
        ("b.db", "all", "(accepted for a plain file: --scope db)"),
    ],
)
def test_a_scope_that_cannot_be_honoured_is_refused_and_nothing_is_written(
    setup: Path, tmp_path: Path, target: str, scope: str, message: str
) -> None:
    out = run_ductile("system", "backup", "--to", str(tmp_path / target), "--scope", scope, "--config", str(setup))
    assert out.returncode == 1 and message in out.stderr, out.stderr
    assert not (tmp_path / target).exists()


def test_an_existing_file_is_never_overwritten(setup: Path, tmp_path: Path) -> None:
    target = tmp_path / "kept.tar.gz"
    target.write_bytes(b"an older backup")
    out = run_ductile("system", "backup", "--to", str(target), "--scope", "all", "--config", str(setup))
    assert out.returncode == 1 and "already exists (accepted: a new file name" in out.stderr
    assert target.read_bytes() == b"an older backup"


def test_an_unreadable_env_file_fails_the_backup_without_a_partial_archive(setup: Path, tmp_path: Path) -> None:
    (tmp_path / "secrets" / "app.env").unlink()
    target = tmp_path / "out.tar.gz"
    out = run_ductile("system", "backup", "--to", str(target), "--scope", "all", "--config", str(setup))
    assert out.returncode == 1, out.stderr
    assert "app.env" in out.stderr
    assert not target.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.tar.gz")] == []


def test_on_postgresql_the_files_are_archived_and_the_database_is_left_to_pg_dump(tmp_path: Path) -> None:
    roots = tmp_path / "plugins"
    make_plugin(roots, "work", OK_PLUGIN)
    config = base_config([roots], {"work": {}}, database={"url": "postgresql://nobody@127.0.0.1:1/none"})
    write_config(tmp_path / "gw", config)
    refused = run_ductile("system", "backup", "--to", str(tmp_path / "db.tar.gz"), "--scope", "db", "--config", str(tmp_path / "gw"))
    assert refused.returncode == 1 and "the database is PostgreSQL: back it up with pg_dump" in refused.stderr
    archive = tmp_path / "files.tar.gz"
    out = run_ductile("system", "backup", "--to", str(archive), "--scope", "plugins", "--config", str(tmp_path / "gw"))
    assert out.returncode == 0, out.stderr
    assert "warning: the database is PostgreSQL and is not in this archive" in out.stdout
    assert not any(name.startswith("db/") for name in names(archive))
    assert "plugins/plugins/work/run" in names(archive)
    assert manifest(archive)["source_db_sha256"] == ""


def test_two_plugin_roots_of_the_same_name_stay_apart(tmp_path: Path) -> None:
    first, second = tmp_path / "a" / "plugins", tmp_path / "b" / "plugins"
    make_plugin(first, "work", OK_PLUGIN)
    make_plugin(second, "other", OK_PLUGIN)
    write_config(tmp_path / "gw", base_config([first, second], {"work": {}, "other": {}}))
    assert run_ductile("plugin", "run", "work", "--config", str(tmp_path / "gw")).returncode == 0
    archive = tmp_path / "p.tgz"
    assert run_ductile("system", "backup", "--to", str(archive), "--scope", "plugins", "--config", str(tmp_path / "gw")).returncode == 0
    listed = names(archive)
    assert "plugins/plugins/work/run" in listed and "plugins/plugins-1/other/run" in listed
    roots = manifest(archive)["plugin_roots"]
    assert roots == [
        {"archive_path": "plugins/plugins", "source_path": str(first)},
        {"archive_path": "plugins/plugins-1", "source_path": str(second)},
    ]


def test_without_hard_links_the_backup_is_copied_exclusively_and_removed_if_the_copy_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """vfat and some network shares have no hard links: `_place` falls back to O_EXCL + copy."""
    import errno
    import shutil

    from ductile import backup

    def no_links(src: object, dst: object) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(backup.os, "link", no_links)
    partial = tmp_path / "partial"
    partial.write_bytes(b"archive bytes" * 1000)
    target = tmp_path / "out.tar.gz"
    backup._place(partial, target)
    assert target.read_bytes() == partial.read_bytes()
    assert target.stat().st_mode & 0o777 == 0o600
    with pytest.raises(backup.BackupError, match="already exists"):
        backup._place(partial, target)
    assert target.read_bytes() == partial.read_bytes()

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(shutil, "copyfileobj", disk_full)
    second = tmp_path / "second.tar.gz"
    with pytest.raises(OSError, match="No space left"):
        backup._place(partial, second)
    assert not second.exists()


def test_json_output_is_the_manifest_and_where_it_went(setup: Path, tmp_path: Path) -> None:
    import json

    archive = tmp_path / "j.tar.gz"
    out = run_ductile("system", "backup", "--to", str(archive), "--scope", "plugins", "--json", "--config", str(setup))
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    assert body["target"] == str(archive) and body["bytes"] == archive.stat().st_size
    assert body["scope"] == "plugins" and set(body["included"]) == PLUGINS
    assert {k: v for k, v in body.items() if k not in ("target", "bytes")} == manifest(archive)

