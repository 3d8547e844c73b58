"""Scope implications (pure): followed transitively, never upward, and every implied scope is a
scope the config accepts."""

from __future__ import annotations

import pytest

from ductile.api.auth import IMPLIES, has_scope
from ductile.config import SCOPES


@pytest.mark.parametrize(
    ("granted", "needed", "allowed"),
    [
        ({"jobs:rw"}, "jobs:tree:ro", True),  # jobs:rw ⇒ jobs:ro ⇒ jobs:tree:ro
        ({"jobs:rw"}, "jobs:result:ro", True),
        ({"jobs:ro"}, "jobs:tree:ro", True),
        ({"jobs:tree:ro"}, "jobs:tree:ro", True),
        ({"jobs:tree:ro"}, "jobs:result:ro", False),
        ({"jobs:tree:ro"}, "jobs:ro", False),  # never upward
        ({"jobs:result:ro"}, "jobs:tree:ro", False),
        ({"jobs:tree:ro", "jobs:result:ro"}, "jobs:ro", False),
        ({"plugin:rw"}, "jobs:tree:ro", False),
        ({"*"}, "jobs:result:ro", True),
        (set(), "jobs:ro", False),
    ],
)
def test_has_scope(granted: set[str], needed: str, allowed: bool) -> None:
    assert has_scope(frozenset(granted), needed) is allowed


def test_implications_name_known_scopes() -> None:
    for scope, implied in IMPLIES.items():
        assert scope in SCOPES and implied <= set(SCOPES)
