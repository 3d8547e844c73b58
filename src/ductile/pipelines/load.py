"""The config's hook into pipelines: compile what `load_config` read, report problems as lines.

Kept to one function so the config check (which gathers every problem in one pass) calls it
beside its other checks without knowing anything about graphs.
"""

from __future__ import annotations

from ductile.config import LoadedConfig
from ductile.pipelines.compile import Graph, compile_pipelines


def check_pipelines(loaded: LoadedConfig) -> tuple[Graph, list[str], list[str]]:
    """(graph, problems, warnings) for the pipelines of every loaded file."""
    graph, report = compile_pipelines(loaded.pipeline_sources, frozenset(loaded.config.plugins))
    return graph, report.problems, report.warnings
