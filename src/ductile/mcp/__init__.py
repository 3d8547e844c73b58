"""`ductile mcp`: a Model Context Protocol server that talks to a gateway over its HTTP API.

Every tool is one API operation called with the token the server was started with, so the
gateway's scope checks apply unchanged. Tool schemas come from the gateway's own `/openapi.json`
(`tools.build_tools`), results are shortened to a byte budget (`compact.compact`), and `docs/`
pages are offered as resources (`docs.doc_pages`). Only `server` imports the `mcp` SDK, and only
`ductile mcp` imports `server`, so other commands never pay for it.
"""
