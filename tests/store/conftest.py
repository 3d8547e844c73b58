"""The store contract fixture: every test taking `store` runs once per backend.

`store` is a SqliteStore on a file in tmp_path, or a PostgresStore on a fresh schema of the test
server, created and dropped around the test (tests/pgtest.py says when it skips and when it
fails instead). Tests poking at the database directly use `raw` / `reopen` from backends.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ductile.store import open_store
from store.backends import BACKENDS, backend_target


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def store(backend: str, tmp_path: Path) -> Iterator[Any]:
    with backend_target(backend, tmp_path) as target:
        s = open_store(target)
        try:
            yield s
        finally:
            s.close()
