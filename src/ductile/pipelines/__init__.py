"""Pipelines: YAML-declared chains of plugin steps, routed from emitted events (spec: pipelines.md)."""
