"""Enqueue over the real API (POST /plugin/{plugin}/{command})."""

from __future__ import annotations

from typing import Any

import httpx


def enqueue(url: str, token: str, plugin: str, command: str, payload: Any = None) -> str:
    response = httpx.post(
        f"{url}/plugin/{plugin}/{command}",
        json={"payload": payload or {}},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    return response.json()["job_id"]
