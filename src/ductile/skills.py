"""The skill list: everything an agent can invoke on a gateway, one entry per plugin command, then
one per pipeline (Ductile's `/skills` shape).

A pure function of the plugin registry and the compiled pipelines, so that `GET /skills` (a running
gateway) and `ductile skills` (the config read locally, no gateway needed) answer from the same rule
and cannot drift apart. Nothing here reads plugin config values: a skill is a manifest's command or
a pipeline's name, never a credential.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # types only: the CLI imports this module and must stay quick to start
    from ductile.pipelines.compile import Graph
    from ductile.registry import Registry


def tier(command_type: str) -> str:
    """Ductile's tier name for a manifest command type: `write` commands need a write scope."""
    return "WRITE" if command_type == "write" else "READ"


def skill_list(registry: Registry, graph: Graph) -> list[dict[str, Any]]:
    """Instances by name and their commands by name, then pipelines by name: a stable order, so
    two answers for the same config are equal and a rendered document diffs cleanly.

    Only enabled instances are in the registry, so a disabled plugin has no skills."""
    out: list[dict[str, Any]] = []
    for name, inst in sorted(registry.instances.items()):
        for command in sorted(inst.plugin.manifest.commands, key=lambda c: c.name):
            skill: dict[str, Any] = {"name": f"plugin.{name}.{command.name}", "kind": "plugin"}
            if command.description:
                skill["description"] = command.description
            skill.update(
                {
                    "endpoint": f"/plugin/{name}/{command.name}",
                    "tier": tier(command.type),
                    "plugin": name,
                    "command": command.name,
                }
            )
            out.append(skill)
    for name, pipeline in sorted(graph.pipelines.items()):
        out.append(
            {
                "name": f"pipeline.{name}",
                "kind": "pipeline",
                "endpoint": f"/pipeline/{name}",
                "pipeline": name,
                "trigger": pipeline.on or pipeline.on_hook,
                "execution_mode": pipeline.execution_mode,
                "timeout_secs": int(pipeline.timeout),
            }
        )
    return out
