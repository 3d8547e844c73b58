"""The webhook tests' secret: `secret_ref: env:WEBHOOK_TEST_SECRET` resolves in the gateway's environment."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.acceptance.pipeline_rig import Gateways
from tests.webhooks.rig import SECRET

os.environ["WEBHOOK_TEST_SECRET"] = SECRET  # inherited by every gateway subprocess


@pytest.fixture
def gateways(tmp_path: Path) -> Iterator[Gateways]:
    pool = Gateways(tmp_path)
    yield pool
    pool.stop_all()
