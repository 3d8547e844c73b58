"""Webhook listener benchmark: signed deliveries/s to `queued`, side by side with GET /healthz.

    .venv/bin/python bench/webhooks.py             # 3 paired rounds of 5 s per side (about 1 minute)
    .venv/bin/python bench/webhooks.py --quick     # 1 round of 2 s per side (smoke test)
    .venv/bin/python bench/webhooks.py --per-delivery                       # + the same gateway writing one by one
    .venv/bin/python bench/webhooks.py --postgres postgresql://postgres@127.0.0.1:5432/test --per-delivery

What it measures (numbers go to docs/BENCHMARKS.md, "Webhooks"):

* One real `ductile system start` with the API and the webhook listener on loopback, and one
  plugin instance whose `handle` sleeps for an hour with `max_workers: 1`: the first delivery
  occupies the only worker, so every later one stays `queued`. Dispatch does not run during the
  measurement; what is measured is the listener and the enqueue (read the body, HMAC-SHA256 check,
  the store write of the job and its transition — one transaction per burst of waiting
  deliveries — SSE `job.queued`, 202).
* Three sides, 16 concurrent keep-alive connections each, for `--seconds` each, then
  `--sequential` requests on one connection (latency without queueing behind other clients), in
  one round, rotated between rounds so machine noise hits every side alike:
  - `webhook`: POST /hooks/bench, a distinct signed body per request (`X-Sig: sha256=<hex>`);
  - `webhook+dedupe`: POST /hooks/dedupe with a distinct `X-GitHub-Delivery` per request
    (the redelivery look-up runs inside the same transaction);
  - `healthz`: GET /healthz on the API (FastAPI, one store read): the HTTP floor of this build.
  For each: requests/s and p50/p99 under 16 clients, and p50/p99 with one client. The report gives
  the median of the rounds and the ratio webhook/healthz. Every 202 is checked, and afterwards the
  number of queued jobs in the database must equal the number of 202s.
* `--per-delivery` starts a second gateway, identical but for its writer committing each
  delivery in its own transaction (its store's `enqueue_webhooks` replaced, in that process only,
  by one `enqueue_webhook` call per delivery: the writer before bursts), and adds the sides
  `webhook/per-delivery` and `webhook+dedupe/per-delivery` to every round: burst vs per-delivery
  paired in the same rounds.
* `--postgres URL` runs every gateway on PostgreSQL instead of SQLite, each in a fresh schema of
  that database (dropped afterwards).
* The gateway process's CPU time per request under the 16-client load (from /proc/<pid>/stat):
  steadier than wall-clock figures on a shared machine.
* Load average (1 min) before and after each round: the machine is shared; read the figures with it.
* The client is one asyncio process apart from the gateway's; deliveries are signed before each
  timed run, so the client's per-request work is the same for every side.

Target (issue 10): webhook rate ≥ 50 % of the healthz rate of the same run, webhook p99 ≤ 20 ms
(one client, as bench/list_jobs.py measures p99; the 16-client p99 is printed too).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import yaml

VENV_BIN = Path(sys.executable).parent
SECRET = b"bench-secret"
CLIENTS = 16
PRESIGN_RATE = 3000  # deliveries/s signed ahead of a timed run (more than any run here reached)

SLEEPER = """\
#!/usr/bin/env bash
read -r _request
sleep 3600
printf '%s\\n' '{"status":"ok","result":"done"}'
"""


class Conn:
    """A minimal keep-alive HTTP/1.1 client, so the client's own cost stays small."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Conn:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = 0
        for line in lines[1:]:
            if line.lower().startswith("content-length:"):
                length = int(line.split(":", 1)[1])
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


def delivery(path: str, n: int, dedupe: bool) -> bytes:
    body = json.dumps({"action": "opened", "number": n, "repository": {"full_name": "octo/bench"}}).encode()
    sig = hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    extra = f"X-GitHub-Delivery: bench-{n}\r\n" if dedupe else ""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
        f"X-Sig: sha256={sig}\r\n{extra}Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


# The per-delivery gateway: the same CLI, its stores' burst write replaced (in that process only).
PER_DELIVERY = """
import sys
from ductile.store.postgres import PostgresStore
from ductile.store.sqlite import SqliteStore

def one_by_one(self, batch):
    return [self.enqueue_webhook(d.job, now=d.now, delivery_since=d.delivery_since,
                                 dedupe_since=d.dedupe_since) for d in batch]

SqliteStore.enqueue_webhooks = one_by_one
PostgresStore.enqueue_webhooks = one_by_one
from ductile.cli.main import main
sys.argv[0] = "ductile"
sys.exit(main())
"""

HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n"


async def load(
    port: int, side: str, seconds: float, counter: list[int], clients: int = CLIENTS, count: int | None = None
) -> dict[str, Any]:
    """`clients` connections for `seconds` (or `count` requests each); requests/s and the
    percentiles of every request's latency."""
    samples: list[float] = []
    accepted = 0
    # Signed outside the timed window: the client's HMAC and JSON work would otherwise compete
    # with the gateway for the same two cores (and `healthz` has none), skewing the pair.
    dedupe = side.startswith("webhook+dedupe")
    path = "/hooks/dedupe" if dedupe else "/hooks/bench"
    first = counter[0] + 1
    planned = clients * count if count is not None else int(seconds * PRESIGN_RATE)
    signed = [] if side == "healthz" else [delivery(path, first + i, dedupe) for i in range(planned)]
    stop_at = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal accepted
        conn = await Conn.open(port)
        sent = 0
        try:
            while (sent < count) if count is not None else (time.perf_counter() < stop_at):
                sent += 1
                if side == "healthz":
                    raw, want = HEALTHZ, 200
                else:
                    counter[0] += 1
                    used = counter[0] - first
                    raw = signed[used] if used < len(signed) else delivery(path, counter[0], dedupe)
                    want = 202
                t0 = time.perf_counter()
                status, body = await conn.request(raw)
                samples.append((time.perf_counter() - t0) * 1000)
                if status != want:
                    raise RuntimeError(f"{side}: HTTP {status} {body[:200]!r}")
                if want == 202:
                    accepted += 1
        finally:
            conn.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    elapsed = time.perf_counter() - t0
    samples.sort()
    return {
        "rps": len(samples) / elapsed,
        "p50_ms": statistics.median(samples),
        "p99_ms": samples[min(len(samples) - 1, int(len(samples) * 0.99))],
        "accepted": accepted,
    }


def cpu_seconds(pid: int) -> float:
    """The gateway process's user + system CPU time so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start(work: Path, database: dict[str, str], per_delivery: bool = False) -> tuple[subprocess.Popen[bytes], int, int]:
    """A gateway whose config lives in `work`; `per_delivery`: its writer commits one by one."""
    import httpx

    work.mkdir(parents=True)
    root = work / "plugins" / "sleeper"
    root.mkdir(parents=True)
    (root / "manifest.yaml").write_text(
        yaml.safe_dump(
            {
                "manifest_spec": "ductile.plugin",
                "manifest_version": 1,
                "name": "sleeper",
                "version": "1.0.0",
                "protocol": 2,
                "entrypoint": "run.sh",
                "commands": [{"name": "handle", "type": "write"}],
            }
        )
    )
    (root / "run.sh").write_text(SLEEPER)
    (root / "run.sh").chmod(0o755)
    api_port, hook_port = free_port(), free_port()
    endpoint = {"plugin": "sleeper", "secret_ref": "env:BENCH_WEBHOOK_SECRET", "signature_header": "X-Sig"}
    config = {
        "service": {"log_format": "json", "log_level": "warning", "max_workers": 1},
        "database": database,
        "plugin_roots": [str(work / "plugins")],
        "plugins": {"sleeper": {"timeouts": {"handle": "2h"}}},
        "api": {"enabled": True, "listen": f"127.0.0.1:{api_port}"},
        "webhooks": {
            "listen": f"127.0.0.1:{hook_port}",
            "endpoints": [
                {"path": "/hooks/bench", **endpoint},
                {"path": "/hooks/dedupe", "delivery_id_header": "X-GitHub-Delivery", **endpoint},
            ],
        },
    }
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    log = open(work / "gateway.log", "wb")  # noqa: SIM115 - handed to the child
    env = dict(os.environ, BENCH_WEBHOOK_SECRET=SECRET.decode(), PATH=f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}")
    command = [sys.executable, "-c", PER_DELIVERY] if per_delivery else [str(VENV_BIN / "ductile")]
    proc = subprocess.Popen([*command, "system", "start", "--config", str(work)], stdout=log, stderr=log, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError((work / "gateway.log").read_text())
        try:
            if httpx.get(f"http://127.0.0.1:{api_port}/healthz", timeout=1).status_code == 200:
                return proc, api_port, hook_port
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("gateway did not start")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Database:
    """Where one gateway stores its jobs: a SQLite file in `work`, or a fresh PostgreSQL schema."""

    def __init__(self, work: Path, postgres: str | None) -> None:
        self.postgres = postgres
        self.path = work / "bench.db"
        self.schema = f"bench_webhooks_{uuid.uuid4().hex[:12]}"
        if postgres:
            import psycopg

            with psycopg.connect(postgres, autocommit=True) as conn:
                conn.execute(f"CREATE SCHEMA {self.schema}")

    def config(self) -> dict[str, str]:
        if not self.postgres:
            return {"path": str(self.path)}
        from urllib.parse import quote

        sep = "&" if "?" in self.postgres else "?"
        return {"url": f"{self.postgres}{sep}options={quote(f'-csearch_path={self.schema}')}"}

    def counts(self) -> tuple[int, int]:
        """(queued, running) jobs."""
        sql = "SELECT count(*) FILTER (WHERE status = 'queued'), count(*) FILTER (WHERE status = 'running') FROM jobs"
        if not self.postgres:
            with sqlite3.connect(self.path) as db:
                return tuple(db.execute(sql).fetchone())  # type: ignore[return-value]
        import psycopg

        with psycopg.connect(self.config()["url"]) as conn:
            return tuple(conn.execute(sql).fetchone())  # type: ignore[arg-type,return-value]

    def drop(self) -> None:
        if self.postgres:
            import psycopg

            with psycopg.connect(self.postgres, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--sequential", type=int, default=400, help="requests on one connection, for p50/p99")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--postgres", metavar="URL", help="store on this PostgreSQL database (a fresh schema)")
    parser.add_argument(
        "--per-delivery", action="store_true", help="also a gateway committing each delivery on its own, paired"
    )
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.seconds, args.sequential = 1, 2.0, 100
    kinds = ["burst", "per-delivery"] if args.per_delivery else ["burst"]
    sides = ["webhook", "webhook+dedupe", "healthz"]
    if args.per_delivery:
        sides[2:2] = ["webhook/per-delivery", "webhook+dedupe/per-delivery"]
    with tempfile.TemporaryDirectory(prefix="ductile-bench-webhooks-") as tmp:
        gateways: dict[str, tuple[subprocess.Popen[bytes], int, int]] = {}
        databases = {kind: Database(Path(tmp) / kind, args.postgres) for kind in kinds}
        counters = {kind: [0] for kind in kinds}
        try:
            for kind in kinds:
                gateways[kind] = start(Path(tmp) / kind, databases[kind].config(), per_delivery=kind == "per-delivery")

            def target(side: str) -> tuple[str, int]:
                kind = "per-delivery" if side.endswith("/per-delivery") else "burst"
                _, api_port, hook_port = gateways[kind]
                return kind, api_port if side == "healthz" else hook_port

            async def run() -> list[dict[str, Any]]:
                rounds = []
                for kind in kinds:  # warm-up: the first delivery takes the only worker; the rest stay queued
                    await load(gateways[kind][2], "webhook", 1.0, counters[kind])
                await load(gateways["burst"][1], "healthz", 1.0, counters["burst"])
                for index in range(args.rounds):
                    order = sides[index % len(sides) :] + sides[: index % len(sides)]
                    result: dict[str, Any] = {"load_before": os.getloadavg()[0]}
                    for side in order:
                        kind, port = target(side)
                        pid = gateways[kind][0].pid
                        cpu = cpu_seconds(pid)
                        result[side] = await load(port, side, args.seconds, counters[kind])
                        done = result[side]["rps"] * args.seconds
                        result[side]["cpu_ms_per_request"] = (cpu_seconds(pid) - cpu) * 1000 / max(done, 1)
                        result[side]["load"] = os.getloadavg()[0]
                        one = await load(port, side, 0, counters[kind], clients=1, count=args.sequential)
                        result[side].update(seq_p50_ms=one["p50_ms"], seq_p99_ms=one["p99_ms"])
                    result["load_after"] = os.getloadavg()[0]
                    rounds.append(result)
                return rounds

            rounds = asyncio.run(run())
            counts = {kind: databases[kind].counts() for kind in kinds}
        finally:
            for proc, _, _ in gateways.values():
                proc.terminate()
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
            for database in databases.values():
                database.drop()
    for kind in kinds:
        queued, running = counts[kind]
        total_202 = counters[kind][0]  # every delivery sent was checked to answer 202
        if queued + running != total_202 or running != 1:
            raise SystemExit(
                f"{kind}: database holds {queued} queued + {running} running jobs for {total_202} deliveries"
            )
    report(rounds, sides, counts, "PostgreSQL" if args.postgres else "SQLite")


def report(rounds: list[dict[str, Any]], sides: list[str], counts: dict[str, tuple[int, int]], backend: str) -> None:
    def med(side: str, key: str) -> float:
        return statistics.median(r[side][key] for r in rounds)

    print(f"webhook listener vs GET /healthz on {backend}, {CLIENTS} clients, {len(rounds)} round(s), medians")
    print(
        f"{'side':<29}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'CPU ms/req':>12}{'load':>6}"
        f"   one client: {'p50 ms':>7}{'p99 ms':>8}"
    )
    for side in sides:
        print(
            f"{side:<29}{med(side, 'rps'):>8.0f}{med(side, 'p50_ms'):>9.2f}{med(side, 'p99_ms'):>9.2f}"
            f"{med(side, 'cpu_ms_per_request'):>12.3f}{med(side, 'load'):>6.1f}{'':>15}"
            f"{med(side, 'seq_p50_ms'):>7.2f}{med(side, 'seq_p99_ms'):>8.2f}"
        )
    for side in (s for s in sides if s.startswith("webhook") and "/" not in s):
        paired = [r[side]["rps"] / r["healthz"]["rps"] for r in rounds]  # each round is one pair
        print(
            f"{side}/healthz rate: median {statistics.median(paired):.0%} of the paired rounds "
            f"({', '.join(f'{p:.0%}' for p in paired)}; target >= 50%); p99 {med(side, 'seq_p99_ms'):.1f} ms one "
            f"client, {med(side, 'p99_ms'):.1f} ms under {CLIENTS} clients (target <= 20 ms)"
        )
    for side in ("webhook", "webhook+dedupe"):
        other = f"{side}/per-delivery"
        if other not in sides:
            continue
        rate = [r[side]["rps"] / r[other]["rps"] for r in rounds]
        cpu = [r[side]["cpu_ms_per_request"] / r[other]["cpu_ms_per_request"] for r in rounds]
        print(
            f"{side} burst vs per-delivery: rate x{statistics.median(rate):.2f} "
            f"({', '.join(f'{p:.2f}' for p in rate)}), CPU per delivery x{statistics.median(cpu):.2f} "
            f"({', '.join(f'{p:.2f}' for p in cpu)}), paired rounds"
        )
    loads = ", ".join(f"{r['load_before']:.2f}→{r['load_after']:.2f}" for r in rounds)
    print(f"load average (1 min) per round: {loads}; cores: {os.cpu_count()}")
    for kind, (queued, running) in counts.items():
        print(f"database ({kind}) afterwards: {queued} queued + {running} running (the sleeper) = every 202")
    print(json.dumps({"rounds": rounds}, indent=None))


if __name__ == "__main__":
    main()
