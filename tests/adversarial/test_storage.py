"""Storage faults against a real gateway process and a real SQLite file: a full disk (a small
tmpfs, mounted when running as root), a database locked by an outside writer, and files that
are not a usable database (random bytes, text, truncated, another program's, zero-length, WAL
garbage, damaged while running).

Each asserts what an operator sees: the exact exit status and the one line on stderr, the 503
and /healthz while writes fail, and that no acknowledged job is lost.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import (
    ADMIN_TOKEN,
    DUCTILE,
    GatewayProcess,
    base_config,
    free_port,
    make_plugin,
    wait_for,
    write_config,
)

from ductile.jobs import NewJob
from ductile.store import open_store
from ductile.timeutil import utcnow

pytestmark = pytest.mark.slow

WORK = """\
#!/usr/bin/env python3
import json, sys
request = json.load(sys.stdin)
print(json.dumps({"status": "ok", "result": {"got": len(json.dumps(request.get("payload")))}}))
"""
# Waits for a file to appear before answering: lets a test act while the attempt is running.
GATED = """\
#!/usr/bin/env python3
import json, os, sys, time
request = json.load(sys.stdin)
gate = request["config"]["gate"]
open(gate + ".started", "w").close()
while not os.path.exists(gate):
    time.sleep(0.02)
print(json.dumps({"status": "ok", "result": "through the gate", "pad": "r" * request["config"].get("pad", 0)}))
"""


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DUCTILE, *args], capture_output=True, text=True, timeout=timeout, env=os.environ.copy())


def gateway_dir(root: Path, db: Path, plugins: dict[str, Any] | None = None) -> tuple[Path, int]:
    make_plugin(root / "plugins", "work", WORK)
    make_plugin(root / "plugins", "gated", GATED)
    port = free_port()
    config = base_config(
        [root / "plugins"],
        plugins or {"work": {}},
        port=port,
        database={"path": str(db)},
    )
    config["api"]["max_body_bytes"] = 1 << 20
    write_config(root / "gw", config)
    return root / "gw", port


def client(gw: GatewayProcess) -> httpx.Client:
    return httpx.Client(base_url=gw.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30)


def only_line(stderr: str) -> str:
    """The gateway's one line about a fatal condition: no traceback, nothing else."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip() and not line.startswith("{")]
    assert len(lines) == 1, stderr
    return lines[0]


# -- a full disk -------------------------------------------------------------------------


def _root_or_skip(what: str) -> None:
    if os.geteuid() != 0:
        reason = f"{what} needs root (to mount a small tmpfs); run the suite as root to include it"
        if os.environ.get("CI") == "true":
            pytest.fail(reason + " — CI=true, so this must not be skipped")
        pytest.skip(reason)


@pytest.fixture
def small_volume(tmp_path: Path) -> Iterator[Path]:
    """An 8 MiB tmpfs: small enough to fill in a moment, big enough for the schema and a few jobs."""
    _root_or_skip("the full-disk test")
    volume = tmp_path / "volume"
    volume.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(volume)], capture_output=True)
    if mounted.returncode != 0:
        reason = f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield volume
    finally:
        subprocess.run(["umount", "-l", str(volume)], check=False)


def fill(volume: Path) -> Path:
    """Write a filler file until the filesystem refuses another byte."""
    filler = volume / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        for size in (65536, 4096, 1):
            with contextlib.suppress(OSError):
                while os.write(fd, b"\0" * size):
                    pass
    finally:
        os.close(fd)
    assert os.statvfs(volume).f_bavail == 0
    return filler


def test_full_disk_answers_503_keeps_reads_reports_degraded_and_resumes_by_itself(
    tmp_path: Path, small_volume: Path
) -> None:
    gate = tmp_path / "gate"
    plugins = {"work": {}, "gated": {"config": {"gate": str(gate), "pad": 600_000}}}
    config_dir, port = gateway_dir(tmp_path, small_volume / "ductile.db", plugins)
    gw = GatewayProcess(config_dir, port=port).start()
    try:
        with client(gw) as api:
            first = api.post("/plugin/work/poll", json={"payload": {"n": 0}}).json()["job_id"]
            wait_for(lambda: api.get(f"/job/{first}").json()["status"] == "succeeded", message="the first job")
            # two jobs in flight when the disk fills: their 600 kB results cannot be recorded then
            in_flight = [api.post("/plugin/gated/poll", json={}).json()["job_id"] for _ in range(2)]
            wait_for(lambda: Path(f"{gate}.started").exists(), message="the gated jobs to start")
            wait_for(
                lambda: {api.get(f"/job/{j}").json()["status"] for j in in_flight} == {"running"},
                message="both gated jobs to run",
            )

            filler = fill(small_volume)
            gate.touch()
            acknowledged = [first, *in_flight]
            refusal: httpx.Response | None = None
            big = {"payload": {"pad": "p" * 200_000}}  # needs fresh pages: cannot fit in reused WAL space
            for _ in range(100):
                response = api.post("/plugin/work/poll", json=big)
                if response.status_code == 202:
                    acknowledged.append(response.json()["job_id"])
                    continue
                refusal = response
                break
            assert refusal is not None, "100 enqueues of 200 kB each succeeded on a full 4 MiB volume"
            assert refusal.status_code == 503
            assert refusal.headers["retry-after"] == "5"
            assert refusal.json() == {
                "error": "the database cannot be written: the filesystem holding it is full; nothing was queued; "
                "retry later",
                "retryable": True,
            }

            def degraded() -> dict[str, Any] | None:
                api.post("/plugin/work/poll", json=big)  # keeps failing while the disk is full
                health = httpx.get(f"{gw.url}/healthz", timeout=30).json()
                return health if health["status"] == "degraded" else None

            health = wait_for(degraded, timeout=30, interval=0.2, message="/healthz to report degraded")
            assert "cannot be written: the filesystem holding it is full" in health["reason"]
            assert str(small_volume / "ductile.db") in health["reason"]
            wait_for(
                lambda: any(r.get("msg") == "could not record the end of a job; retrying" for r in gw.log_records()),
                message="the in-flight jobs' results to be refused",
            )
            assert {api.get(f"/job/{j}").json()["status"] for j in in_flight} == {"running"}  # not lost, not failed

            # reads keep working
            assert api.get("/jobs").status_code == 200
            for job_id in acknowledged:
                assert api.get(f"/job/{job_id}").status_code == 200
            assert gw.proc is not None and gw.proc.poll() is None

            filler.unlink()  # space comes back: no restart

            def all_done() -> bool:
                statuses = {api.get(f"/job/{j}").json()["status"] for j in acknowledged}
                return statuses == {"succeeded"} and httpx.get(f"{gw.url}/healthz").json()["status"] == "ok"

            wait_for(
                all_done, timeout=60, interval=0.2, message="every acknowledged job to succeed after freeing space"
            )
            after = api.post("/plugin/work/poll", json=big)
            assert after.status_code == 202, after.text
            job_id = after.json()["job_id"]
            wait_for(lambda: api.get(f"/job/{job_id}").json()["status"] == "succeeded", message="a job after recovery")
        assert "gateway component failed" not in gw.log()
        assert any(r.get("msg") == "recorded the end of the job after retrying" for r in gw.log_records())
    finally:
        gate.touch()
        assert gw.stop() == 0


def test_restart_while_the_disk_is_full_fails_with_one_line_and_exit_1(tmp_path: Path, small_volume: Path) -> None:
    db = small_volume / "ductile.db"
    config_dir, port = gateway_dir(tmp_path, db)
    gw = GatewayProcess(config_dir, port=port).start()
    with client(gw) as api:
        job_id = api.post("/plugin/work/poll", json={}).json()["job_id"]
        wait_for(lambda: api.get(f"/job/{job_id}").json()["status"] == "succeeded", message="a job")
    assert gw.stop() == 0
    fill(small_volume)
    out = cli("system", "start", "--config", str(config_dir))
    assert out.returncode == 1, out.stderr
    line = only_line(out.stderr)
    assert line.startswith(f"database {db} cannot be written: the filesystem holding it is full (SQLite: ")
    assert line.endswith(f"; free space on it (df -h {small_volume})")


# -- a lock held by another process (finding 11) -----------------------------------------


def test_finish_blocked_by_an_outside_writer_is_retried_until_the_lock_is_released(tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    db = tmp_path / "data" / "ductile.db"
    config_dir, port = gateway_dir(tmp_path, db, {"gated": {"config": {"gate": str(gate)}}})
    gw = GatewayProcess(config_dir, port=port).start()
    try:
        with client(gw) as api:
            job_id = api.post("/plugin/gated/poll", json={}).json()["job_id"]
        wait_for(lambda: Path(str(gate) + ".started").exists(), message="the attempt to start")
        outsider = sqlite3.connect(db, timeout=30, isolation_level=None)
        outsider.execute("BEGIN IMMEDIATE")  # holds the write lock past the gateway's 10 s busy timeout
        gate.touch()
        try:
            wait_for(
                lambda: any(r.get("msg") == "could not record the end of a job; retrying" for r in gw.log_records()),
                timeout=30,
                interval=0.2,
                message="the gateway to report the refused write",
            )
        finally:
            outsider.execute("ROLLBACK")
            outsider.close()
        with client(gw) as api:
            job = wait_for(
                lambda: (j := api.get(f"/job/{job_id}").json())["status"] == "succeeded" and j,
                timeout=40,
                message="the job to be recorded once the lock is gone",
            )
            assert job["attempt"] == 1 and job["result"]["result"] == "through the gate"
            logs = api.get("/job-attempts", params={"job_id": job_id}).json()["attempts"]
        assert [a["outcome"] for a in logs] == ["success"]  # recorded once, never re-run
        assert any(r.get("msg") == "recorded the end of the job after retrying" for r in gw.log_records())
    finally:
        gate.touch()
        assert gw.stop() == 0


# -- files that are not a usable database ------------------------------------------------


def _ductile_db(path: Path, jobs: int = 30) -> list[str]:
    """A real ductile database with `jobs` queued jobs, closed cleanly (no WAL left)."""
    store = open_store(path)
    ids = [
        store.enqueue(
            NewJob(plugin="work", command="poll", payload={"pad": "x" * 500}, submitted_by="test", max_attempts=3),
            now=utcnow(),
            dedupe_since=None,
        ).job_id
        for _ in range(jobs)
    ]
    store.close()
    return ids


def _random(path: Path) -> None:
    path.write_bytes(os.urandom(64 * 1024))


def _text(path: Path) -> None:
    path.write_text("jobs:\n  - this is a YAML file, not a database\n" * 100)


def _truncated(path: Path) -> None:
    _ductile_db(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _foreign(path: Path) -> None:
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE moz_places (id INTEGER PRIMARY KEY, url TEXT)")
        db.execute("INSERT INTO moz_places (url) VALUES ('https://example.org')")
        db.commit()


NOT_A_DB = "the file is not an SQLite database (SQLite: file is not a database, SQLITE_NOTADB)"
MALFORMED = "the database file is malformed (damaged) (SQLite: database disk image is malformed, SQLITE_CORRUPT)"
BROKEN = [
    ("random_bytes", _random, NOT_A_DB),
    ("text_file", _text, NOT_A_DB),
    ("truncated", _truncated, MALFORMED),
    ("foreign", _foreign, "it is another program's SQLite database (tables: moz_places; no schema_version)"),
]


def _expected(db: Path, meaning: str) -> str:
    if meaning.startswith("it is another program's"):
        advice = f"point database.path at another file; ductile leaves {db} untouched"
    else:
        advice = f"restore it from a backup, or move it away (mv {db} {db}.broken) to start with an empty database"
    return f"database {db} is unusable: {meaning}; {advice}"


@pytest.mark.parametrize(("name", "make", "meaning"), BROKEN, ids=[b[0] for b in BROKEN])
def test_a_broken_database_file_stops_start_and_cli_with_one_line_and_exit_65(
    tmp_path: Path, name: str, make: Any, meaning: str
) -> None:
    db = tmp_path / "data" / "ductile.db"
    db.parent.mkdir(parents=True)
    make(db)
    before = db.read_bytes()
    config_dir, _ = gateway_dir(tmp_path, db)
    expected = _expected(db, meaning)
    for args in (
        ("system", "start"),
        ("job", "list"),
        ("plugin", "run", "work"),
    ):
        out = cli(*args, "--config", str(config_dir))
        assert out.returncode == 65, (args, out.stderr)
        assert only_line(out.stderr) == expected, args
    assert db.read_bytes() == before  # never "repaired" or migrated into


def test_a_zero_length_file_is_initialised_as_a_new_database(tmp_path: Path) -> None:
    db = tmp_path / "data" / "ductile.db"
    db.parent.mkdir(parents=True)
    db.touch()
    config_dir, port = gateway_dir(tmp_path, db)
    gw = GatewayProcess(config_dir, port=port).start()
    try:
        assert any(
            r.get("msg") == "database file was empty (0 bytes): initialised a new database in it"
            for r in gw.log_records()
        )
        with client(gw) as api:
            job_id = api.post("/plugin/work/poll", json={}).json()["job_id"]
            wait_for(lambda: api.get(f"/job/{job_id}").json()["status"] == "succeeded", message="a job")
    finally:
        assert gw.stop() == 0


def test_wal_garbage_is_ignored_and_every_committed_job_is_kept(tmp_path: Path) -> None:
    db = tmp_path / "data" / "ductile.db"
    db.parent.mkdir(parents=True)
    ids = _ductile_db(db)
    Path(f"{db}-wal").write_bytes(os.urandom(100_000))  # SQLite rejects it by its checksums
    config_dir, port = gateway_dir(tmp_path, db)
    gw = GatewayProcess(config_dir, port=port).start()
    try:
        with client(gw) as api:
            wait_for(
                lambda: {api.get(f"/job/{j}").json()["status"] for j in ids} == {"succeeded"},
                timeout=60,
                message="every job committed before the garbage WAL to run",
            )
    finally:
        assert gw.stop() == 0


def test_a_database_damaged_while_running_stops_the_gateway_with_one_line_and_exit_65(tmp_path: Path) -> None:
    db = tmp_path / "data" / "ductile.db"
    config_dir, port = gateway_dir(tmp_path, db)
    gw = GatewayProcess(config_dir, port=port).start()
    with client(gw) as api:
        ids = [api.post("/plugin/work/poll", json={"payload": {"pad": "x" * 1000}}).json()["job_id"] for _ in range(40)]
        wait_for(lambda: api.get(f"/job/{ids[-1]}").json()["status"] == "succeeded", message="the jobs to run")
    with contextlib.closing(sqlite3.connect(db, timeout=30)) as outside:
        outside.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = db.stat().st_size
    with open(db, "r+b") as handle:  # everything but the header page
        handle.seek(4096)
        handle.write(os.urandom(size - 4096))
    with contextlib.closing(sqlite3.connect(db, timeout=30)) as outside:
        outside.execute("PRAGMA user_version=7")  # a commit: the gateway re-reads its pages from the file
    assert gw.proc is not None
    try:
        code = gw.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(httpx.HTTPError):
            httpx.post(f"{gw.url}/plugin/work/poll", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, json={})
        code = gw.proc.wait(timeout=30)
    assert code == 65, gw.log()
    last = gw.log().strip().splitlines()[-1]
    assert last.startswith(f"gateway stopped: the dispatcher failed: database {db} is unusable: ") or last.startswith(
        f"gateway stopped: the scheduler failed: database {db} is unusable: "
    ), last
    assert last.endswith(f"(mv {db} {db}.broken) to start with an empty database")


def test_start_on_a_read_only_filesystem_fails_with_one_line_and_exit_1(tmp_path: Path, small_volume: Path) -> None:
    db = small_volume / "ductile.db"
    _ductile_db(db, jobs=1)
    remounted = subprocess.run(["mount", "-o", "remount,ro", str(small_volume)], capture_output=True, text=True)
    assert remounted.returncode == 0, remounted.stderr
    config_dir, _ = gateway_dir(tmp_path, db)
    out = cli("system", "start", "--config", str(config_dir))
    assert out.returncode == 1, out.stderr
    assert only_line(out.stderr) == (
        f"cannot create the lock file {db}.lock: Read-only file system; "
        f"check that {small_volume} exists and is writable by this user"
    )
    out = cli("job", "list", "--config", str(config_dir))  # reading needs no lock, but SQLite wants its -shm
    assert out.returncode == 1, out.stderr
    assert only_line(out.stderr).startswith(f"database {db} cannot be written: ")
