"""A real gateway with the webhook listener on loopback, and a sender that signs like GitHub/Stripe.

Signatures are computed here with `hmac` over the exact bytes sent, independently of
`ductile.webhooks.verify`, so a bug there cannot make both sides agree by accident.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Any

import httpx
import yaml
from conftest import free_port

from tests.acceptance.pipeline_rig import Gateways

SECRET = "s3cret"


def sign(body: bytes, secret: str = SECRET, *, prefix: bool = True, timestamp: str | None = None) -> str:
    message = body if timestamp is None else timestamp.encode() + b"." + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return f"sha256={digest}" if prefix else digest


def endpoint(path: str, plugin: str, **extra: Any) -> dict[str, Any]:
    return {
        "path": path,
        "plugin": plugin,
        "secret_ref": "env:WEBHOOK_TEST_SECRET",
        "signature_header": "X-Sig",
        **extra,
    }


class HookGateway:
    """One gateway (API + webhook listener); `post` sends raw bytes to the listener."""

    def __init__(self, gateways: Gateways, gw: Any, port: int) -> None:
        self.gateways = gateways
        self.gw = gw
        self.port = port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def db(self) -> Path:
        return self.gw.db_path

    def post(self, path: str, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
        return httpx.post(f"{self.url}{path}", content=body, headers=headers or {}, timeout=15)

    def signed(self, path: str, body: bytes, *, secret: str = SECRET, **headers: str) -> httpx.Response:
        return self.post(path, body, {"X-Sig": sign(body, secret), **headers})


def start(
    gateways: Gateways,
    plugins: dict[str, Any],
    endpoints: list[dict[str, Any]],
    *,
    pipelines: list[dict[str, Any]] | None = None,
    roots: list[Path] | None = None,
    service: dict[str, Any] | None = None,
    standalone: Path | None = None,
) -> HookGateway:
    """With `standalone`, the endpoints go into that file as Ductile's flat `webhooks: [...]`
    list, included from the root config (which sets only `webhooks.listen`)."""
    port = free_port()

    def edit(config: dict[str, Any], api_url: str) -> None:
        if standalone is not None:
            standalone.write_text(yaml.safe_dump({"webhooks": endpoints}, sort_keys=False))
            config["include"] = [str(standalone)]
            config["webhooks"] = {"listen": f"127.0.0.1:{port}"}
        else:
            config["webhooks"] = {"listen": f"127.0.0.1:{port}", "endpoints": endpoints}

    gw = gateways.start(plugins, pipelines, roots=roots, service=service, edit=edit)
    return HookGateway(gateways, gw, port)
