"""Every config problem in one pass: files, schema, plugin discovery, and the config checked against the plugins.

`check_config` is the single place problems are collected; `gateway.prepare` (so `system start`,
`config check` and every command that needs plugins) reads from it. A new kind of check is one
more `report.add(kind, ...)` there, running on the partial config like the others.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ductile.config import LoadedConfig, ScheduleConfig, read_config
from ductile.manifest import Discovery, discover
from ductile.pipelines.compile import EMPTY_GRAPH, Graph
from ductile.pipelines.load import check_pipelines
from ductile.webhooks.config import Intake, check_webhooks


@dataclass
class ConfigReport:
    loaded: LoadedConfig | None  # the config with its invalid parts left out; None if no file was found
    discovery: Discovery = field(default_factory=Discovery)
    problems: list[str] = field(default_factory=list)
    # Lints that never stop a start: Ductile keys accepted but ignored or not yet honoured (one line
    # each), discovery and pipelines.
    warnings: list[str] = field(default_factory=list)
    graph: Graph = EMPTY_GRAPH  # the compiled pipelines (empty while any pipeline has a problem)
    webhooks: Intake | None = None  # the webhook listener to run (None: no endpoints, or a problem)
    # Which check found each problem or warning (config, discovery, plugins, pipelines, webhooks):
    # the `name` of a check in GET /system/doctor.
    kinds: dict[str, str] = field(default_factory=dict)

    def add(self, kind: str, problems: Sequence[str], warnings: Sequence[str] = ()) -> None:
        for text in problems:
            self.problems.append(text)
            self.kinds.setdefault(text, kind)
        for text in warnings:
            self.warnings.append(text)
            self.kinds.setdefault(text, kind)


def check_config(arg: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> ConfigReport:
    """Run every check, each on whatever the earlier ones left valid; return all problems at once."""
    env = dict(os.environ) if env is None else env  # with environment_vars.include added by read_config
    read = read_config(arg, env)
    report = ConfigReport(loaded=read.loaded)
    report.add("config", read.problems, read.warnings)
    loaded = read.loaded
    if loaded is None:
        return report
    report.discovery = discover(loaded.plugin_roots, allow_symlinks=loaded.config.service.allow_symlinks)
    report.add("discovery", report.discovery.problems, report.discovery.warnings)
    report.add("plugins", check_against_plugins(loaded, report.discovery))
    report.graph, pipeline_problems, pipeline_warnings = check_pipelines(loaded)
    report.add("pipelines", pipeline_problems, pipeline_warnings)
    webhooks = check_webhooks(loaded, env, report.discovery)
    report.add("webhooks", webhooks.problems)
    report.webhooks = webhooks.intake
    # Further checks add their problems here: report.add(kind, problems, warnings).
    report.problems = list(dict.fromkeys(report.problems))
    return report


def check_against_plugins(loaded: LoadedConfig, discovery: Discovery) -> list[str]:
    """Problems only visible once plugins are known: references, required keys, schedules.

    A check whose input was already reported as wrong stays silent: an instance of a plugin that
    discovery refused, or whose `uses` / `config` / `plugin_roots` was invalid, would otherwise
    get a second, misleading message ("unknown plugin") about the same root cause.
    """
    problems: list[str] = []
    known = ", ".join(sorted(discovery.plugins)) or "none found under plugin_roots"
    roots_unsure = discovery.missing_roots or any(loc[:1] == ("plugin_roots",) for loc in loaded.dropped)
    for instance, spec in loaded.config.plugins.items():
        here = ("plugins", instance)
        base = spec.uses or instance
        plugin = discovery.plugins.get(base)
        if plugin is None:
            if base in discovery.refused or roots_unsure or (*here, "uses") in loaded.dropped:
                continue
            loc = (*here, "uses") if spec.uses else here
            problems.append(loaded.problem(loc, f"unknown plugin {base!r} (known: {known})"))
            continue
        if (*here, "config") not in loaded.dropped:
            for required in plugin.manifest.config_keys.required:
                if required not in spec.config:
                    problems.append(
                        loaded.problem(
                            (*here, "config"),
                            f"missing required config key {required!r} (plugin {base} requires: "
                            f"{', '.join(plugin.manifest.config_keys.required)})",
                        )
                    )
        commands = plugin.manifest.command_names
        for index, schedule in enumerate(spec.schedules):
            if schedule.command not in commands:
                index = _raw_schedule_index(loaded.raw, instance, schedule, index)
                if (*here, "schedules", str(index), "command") in loaded.dropped:
                    continue  # an invalid command name, already reported
                problems.append(
                    loaded.problem(
                        (*here, "schedules", str(index), "command"),
                        f"plugin {base} has no command {schedule.command!r} (accepted: {', '.join(commands)})",
                    )
                )
        for command in spec.timeouts:
            if command not in commands:
                problems.append(
                    loaded.problem(
                        (*here, "timeouts", command),
                        f"plugin {base} has no command {command!r} (accepted: {', '.join(commands)})",
                    )
                )
    return problems


def _raw_schedule_index(raw: dict[str, Any], instance: str, schedule: ScheduleConfig, index: int) -> int:
    """Where this schedule sits in the file (a partially valid config may have dropped some)."""
    try:
        entries = raw["plugins"][instance]["schedules"]
        for position, entry in enumerate(entries):
            if isinstance(entry, dict) and entry.get("id", "default") == schedule.id:
                return position
    except (KeyError, TypeError):
        pass
    return index
