"""Real gateway processes on one PostgreSQL schema: the rig of the multi-node tests.

Every gateway gets its own config directory (its own data dir, port and log) and the same
`database.url`, which is a fresh schema of the test server (tests/pgtest.py), dropped afterwards.
Reads go straight to the database with psycopg, like an operator's psql would.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import GatewayProcess, base_config, free_port, write_config
from pgtest import fresh_schema

TEST_PLUGINS = Path(__file__).resolve().parent.parent / "plugins"


class Cluster:
    def __init__(self, directory: Path, url: str):
        self.directory = directory
        self.url = url
        self.nodes: list[GatewayProcess] = []

    def config(self, plugins: dict[str, Any], *, api: bool = True, **extra: Any) -> dict[str, Any]:
        database = {"url": self.url, "heartbeat": "1s", "node_lease": "3s", **extra.pop("database", {})}
        return base_config([TEST_PLUGINS], plugins, port=free_port() if api else None, database=database, **extra)

    def start(self, config: dict[str, Any], *, wait: bool = True) -> GatewayProcess:
        directory = self.directory / f"node{len(self.nodes)}"
        write_config(directory, config)
        api = config.get("api") or {}
        port = int(api["listen"].rsplit(":", 1)[1]) if api.get("enabled") else None
        node = GatewayProcess(directory, port=port)
        self.nodes.append(node)
        node.start(wait=wait)
        return node

    def rows(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            return conn.execute(sql, params).fetchall()

    def stop_all(self) -> None:
        for node in self.nodes:
            node.stop(signal.SIGKILL)


def wait_ready(node: GatewayProcess, timeout: float = 180.0) -> None:
    """`GatewayProcess.wait_ready` with patience per request: a node firing 50 schedules a second
    on a shared 2-core box may take seconds to answer /healthz, and a slow answer is still an
    answer (a deadline, not a speed test)."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if node.proc is not None and node.proc.poll() is not None:
            raise RuntimeError(f"gateway exited with {node.proc.returncode}:\n{node.log()}")
        try:
            if httpx.get(f"{node.url}/healthz", timeout=15.0).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"gateway not ready after {timeout}s:\n{node.log()[-4000:]}")


@pytest.fixture
def pg_cluster(tmp_path: Path) -> Iterator[Cluster]:
    with fresh_schema("gw") as url:
        rig = Cluster(tmp_path, url)
        try:
            yield rig
        finally:
            rig.stop_all()
