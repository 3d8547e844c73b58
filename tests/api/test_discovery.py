"""GET / must list every endpoint the server actually serves, so the discovery document cannot drift."""

from __future__ import annotations

import httpx
from conftest import base_config, free_port


def test_discovery_lists_every_served_endpoint(gateway_factory, tmp_path):
    gw = gateway_factory(base_config([], {}, port=free_port()))
    discovery = httpx.get(f"{gw.url}/").json()
    listed = {(e["method"], e["path"]) for e in discovery["endpoints"]}
    spec = httpx.get(f"{gw.url}/openapi.json").json()
    served = {(method.upper(), path) for path, ops in spec["paths"].items() for method in ops}
    served.add(("GET", "/openapi.json"))
    assert served == listed
