"""`ductile mcp`: serve the Model Context Protocol over stdio for an agent, against a gateway's API.

The gateway is found as every API-talking command finds it (`cli.target`): `--api-url`, else
$DUCTILE_API_URL, else the config's own `api.listen`, else http://127.0.0.1:8080. The token is
`--token`/$DUCTILE_TOKEN (or Ductile's $DUCTILE_API_KEY); its scopes bound what the agent can do.
The `mcp` SDK is imported only when this command runs.
"""

from __future__ import annotations

from typing import Annotated

import typer

from ductile.cli import target
from ductile.cli.common import ConfigOption, TokenOption, fail

ApiUrlOption = Annotated[
    str | None,
    typer.Option("--api-url", envvar="DUCTILE_API_URL", help="Gateway API base URL (default: the config's api.listen)."),
]


def mcp(
    api_url: ApiUrlOption = None,
    token: TokenOption = None,
    config: ConfigOption = None,
    max_result_bytes: Annotated[
        int,
        typer.Option("--max-result-bytes", min=1000, help="Answers larger than this are shortened, and say so."),
    ] = 16_000,
    docs_dir: Annotated[
        str | None,
        typer.Option("--docs-dir", help="Directory of docs/*.md pages served as resources (default: the checkout's)."),
    ] = None,
) -> None:
    """Serve MCP over stdio: job, schedule, plugin and pipeline tools, and the docs as resources."""
    try:
        from ductile.mcp.docs import doc_pages
        from ductile.mcp.docs import docs_dir as find_docs
        from ductile.mcp.server import Settings, run_stdio
    except ImportError as exc:  # pragma: no cover - the SDK is a dependency; a broken install says so
        fail(f"ductile mcp needs the `mcp` package ({exc}); reinstall ductile")
    pages = doc_pages(find_docs(docs_dir))
    url = target.api_url(api_url, config)
    run_stdio(Settings(api_url=url, token=target.token_from(token), budget=max_result_bytes, pages=pages))


def register(app: typer.Typer) -> None:
    app.command("mcp")(mcp)
