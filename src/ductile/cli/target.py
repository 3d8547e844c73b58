"""Which gateway a command talks to: one rule for every command that can use the HTTP API.

`--api-url`, else $DUCTILE_API_URL, else the config's own `api.listen` when the API is enabled
there; commands that can also work on local files fall back to the database when none answers.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # not `typing`: the start-up fast path (fast.py) imports this module
if TYPE_CHECKING:
    from ductile.config import ApiConfig

FALLBACK_URL = "http://127.0.0.1:8080"


def config_api_url(config: str | None) -> str | None:
    """The URL the config's own gateway listens on, if its API is enabled."""
    from ductile.config import ConfigError, load_config

    try:
        loaded = load_config(config)
    except ConfigError:
        return None
    api = loaded.config.api
    return listen_url(api) if api.enabled else None


def listen_url(api: ApiConfig) -> str:
    """The base URL a client on this host uses for `api.listen`: a wildcard address is reached on
    loopback, an IPv6 host is bracketed. Whether the API is enabled is the caller's question."""
    host = api.host if api.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{api.port}"


def configured_api_url(option: str | None, config: str | None) -> str | None:
    """--api-url / $DUCTILE_API_URL (typer fills the option from it), else the config's; None if neither."""
    return option or os.environ.get("DUCTILE_API_URL") or config_api_url(config)


def api_url(option: str | None, config: str | None) -> str:
    """As configured_api_url, else Ductile's default address."""
    return configured_api_url(option, config) or FALLBACK_URL


def reachable(url: str, timeout: float = 2.0) -> bool:
    from ductile.cli.api_client import ApiClient, ApiClientError

    try:
        with ApiClient(url, None, timeout=timeout) as client:
            client.get("/healthz")
        return True
    except ApiClientError:
        return False


def token_from(*candidates: str | None) -> str | None:
    """The first token given: Ductile's --api-key/$DUCTILE_API_KEY or our --token/$DUCTILE_TOKEN."""
    for value in (*candidates, os.environ.get("DUCTILE_API_KEY"), os.environ.get("DUCTILE_TOKEN")):
        if value:
            return value
    return None
