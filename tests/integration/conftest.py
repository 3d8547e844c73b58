"""A real Dispatcher over a real SQLite file and real plugin processes, driven in-process.

`rig(plugins, ...)` writes a config in tmp_path, runs the same `prepare()` the CLI uses, opens the
store and builds a Dispatcher; `await rig.run_until_done(job_ids)` runs it until those jobs are
terminal (a deadline, not a timing assertion).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
from conftest import write_config

from ductile.dispatch import Dispatcher
from ductile.gateway import prepare, routing_settings
from ductile.lifecycle import TERMINAL, Status
from ductile.store import open_store
from ductile.submission import submit

TEST_PLUGINS = Path(__file__).resolve().parent.parent / "plugins"


def alive(pid: int) -> bool:
    """True if the process exists and is not a zombie waiting to be reaped."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


class Rig:
    def __init__(
        self,
        directory: Path,
        plugins: dict[str, Any],
        roots: list[Path],
        service: dict[str, Any],
        pipelines: list[dict[str, Any]] | None = None,
        database: dict[str, Any] | None = None,
    ):
        self.directory = directory
        config: dict[str, Any] = {
            "service": {"log_format": "json", "kill_grace": "1s", "max_workers": 2, **service},
            "database": database or {"path": "./data/ductile.db"},
            "plugin_roots": [str(r) for r in roots],
            "plugins": plugins,
        }
        if pipelines is not None:
            config["pipelines"] = pipelines
        write_config(directory, config)
        self.open()

    def open(self) -> None:
        self.setup = prepare(str(self.directory))
        service = self.setup.loaded.config.service
        self.store = open_store(self.setup.loaded.store_target)
        self.dispatcher = Dispatcher(
            self.store,
            self.setup.registry,
            max_workers=service.max_workers,
            kill_grace=service.kill_grace,
            env_passthrough=service.plugin_env_passthrough,
            draw=lambda: 0.0,
            routing=routing_settings(self.setup),
        )

    def close(self) -> None:
        self.store.close()

    def reopen(self) -> None:
        """A new gateway process on the same database: fresh store connection and dispatcher."""
        self.close()
        self.open()

    def submit(self, instance: str, command: str = "poll", payload: Any = None) -> str:
        result = submit(
            self.store, self.setup.registry, instance=instance, command=command, payload=payload, submitted_by="cli"
        )
        return result.job_id

    async def run_until_done(self, job_ids: list[str], timeout: float = 30.0) -> list[Any]:
        stop = asyncio.Event()
        task = asyncio.create_task(self.dispatcher.run(stop))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            while True:
                jobs = [self.store.get_job(j) for j in job_ids]
                if all(j is not None and j.status in TERMINAL for j in jobs):
                    return jobs
                if loop.time() > deadline:
                    raise AssertionError(f"jobs not terminal after {timeout}s: {[(j.job_id, j.status) for j in jobs]}")
                if task.done():
                    task.result()
                await asyncio.sleep(0.02)
        finally:
            stop.set()
            await task
            await self.dispatcher.drain(5.0)

    async def run_one(self, instance: str, command: str = "poll", payload: Any = None, timeout: float = 30.0):
        job_id = self.submit(instance, command, payload)
        [job] = await self.run_until_done([job_id], timeout)
        return job, self.store.attempts(job_id)


@pytest.fixture
def rig_database() -> dict[str, Any]:
    """The rig's `database:` config; a test module overrides it to run on PostgreSQL too."""
    return {"path": "./data/ductile.db"}


@pytest.fixture
def rig(tmp_path: Path, rig_database: dict[str, Any]):
    made: list[Rig] = []

    def factory(
        plugins: dict[str, Any],
        *,
        roots: list[Path] | None = None,
        pipelines: list[dict[str, Any]] | None = None,
        **service: Any,
    ) -> Rig:
        r = Rig(tmp_path / "cfg", plugins, roots or [tmp_path / "plugins"], service, pipelines, rig_database)
        made.append(r)
        return r

    yield factory
    for r in made:
        r.close()


__all__ = ["TEST_PLUGINS", "Rig", "Status", "alive"]
