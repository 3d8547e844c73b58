"""Fixtures of the multi-node tests: see pgrig.py."""

from cluster.pgrig import pg_cluster

__all__ = ["pg_cluster"]
