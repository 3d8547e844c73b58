"""Configured plugin instances joined with their discovered plugins: what can actually run.

Built once at start from the validated config and discovery; read-only afterwards.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ductile.config import LoadedConfig, PluginInstanceConfig
from ductile.manifest import CommandSpec, Discovery, Plugin, default_timeout


@dataclass(frozen=True)
class Instance:
    name: str
    plugin: Plugin
    spec: PluginInstanceConfig
    parallelism: int

    @property
    def base(self) -> str:
        return self.plugin.name

    def command(self, name: str) -> CommandSpec | None:
        return self.plugin.manifest.command(name)

    def timeout(self, command: str) -> float:
        return self.spec.timeouts.get(command, default_timeout(command))


@dataclass(frozen=True)
class Registry:
    instances: dict[str, Instance]
    data_dir: Path

    def get(self, name: str) -> Instance | None:
        return self.instances.get(name)

    def workspace(self, instance: str) -> Path:
        """The instance's workspace directory, created if missing. Called for every job: one
        `stat` when it exists (a `mkdir` that fails with EEXIST and the Path building cost ~5x)."""
        path = _WORKSPACES.get((self.data_dir, instance))
        if path is None:
            path = _WORKSPACES[(self.data_dir, instance)] = self.data_dir / "workspaces" / instance
        if not os.path.isdir(path):
            path.mkdir(parents=True, exist_ok=True)
        return path


_WORKSPACES: dict[tuple[Path, str], Path] = {}


def build_registry(loaded: LoadedConfig, discovery: Discovery) -> Registry:
    """Enabled instances whose plugin was found; config check has already reported the rest."""
    max_workers = loaded.config.service.max_workers
    instances: dict[str, Instance] = {}
    for name, spec in loaded.config.plugins.items():
        if not spec.enabled:
            continue
        plugin = discovery.plugins.get(spec.uses or name)
        if plugin is None:
            continue
        if spec.parallelism is not None:
            parallelism = spec.parallelism
        else:
            parallelism = max_workers if plugin.manifest.concurrency_safe else 1
        if not plugin.manifest.concurrency_safe:
            parallelism = 1
        instances[name] = Instance(name=name, plugin=plugin, spec=spec, parallelism=parallelism)
    return Registry(instances=instances, data_dir=loaded.db_path.parent)
