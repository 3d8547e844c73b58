"""`make run`: start the gateway on the bundled example config with API tokens generated for it.

The example config holds no token: it includes `data/api-tokens.yaml`, which this script writes
with the SHA-256 of each token (`token_sha256`), so not even the config file holds a usable
secret. The tokens themselves are generated once and kept in `data/tokens.json` (mode 0600, under
the gitignored data/ directory) so they stay the same across runs; `$DUCTILE_TOKEN` and
`$DUCTILE_READONLY_TOKEN` choose your own. Every token is printed with what it may do.

The virtualenv's bin goes first on PATH so plugins' `#!/usr/bin/env python3` resolves to a real
interpreter instead of a slow version-manager shim.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Grant:
    name: str
    env: str  # the variable that overrides the generated token
    scopes: tuple[str, ...]


GRANTS = (
    Grant("admin", "DUCTILE_TOKEN", ("*",)),
    Grant("readonly", "DUCTILE_READONLY_TOKEN", ("jobs:ro", "plugin:ro", "events:ro", "system:ro")),
)

# What each scope lets a token do, in words (docs/API_REFERENCE.md, "Authentication and scopes").
SCOPE_WORDS = {
    "*": "everything: run any plugin command, cancel jobs, read all jobs, results, logs, state and events",
    "jobs:ro": "list jobs and read their results, attempt logs and schedules (secrets masked)",
    "jobs:rw": "the above, and cancel jobs",
    "plugin:ro": "list plugins, read their state (secrets masked), and run their read-only commands",
    "plugin:rw": "the above, and run their write commands",
    "events:ro": "follow the live event stream (GET /events)",
    "system:ro": "read system endpoints",
    "system:rw": "use system endpoints",
}


def ensure_tokens(config_dir: Path, env: dict[str, str]) -> dict[str, str]:
    """Each grant's token: from its env var, else the one kept in data/tokens.json, else a new one.
    Writes data/tokens.json (new tokens only) and data/api-tokens.yaml (hashes of all of them)."""
    data = config_dir / "data"
    data.mkdir(parents=True, exist_ok=True)
    kept_file = data / "tokens.json"
    kept: dict[str, str] = json.loads(kept_file.read_text()) if kept_file.exists() else {}
    legacy = data / "token"  # where earlier versions kept the admin token
    if "admin" not in kept and legacy.exists():
        kept["admin"] = legacy.read_text().strip()
    tokens: dict[str, str] = {}
    for grant in GRANTS:
        override = env.get(grant.env)
        if override:
            tokens[grant.name] = override
            continue
        kept.setdefault(grant.name, secrets.token_urlsafe(24))
        tokens[grant.name] = kept[grant.name]
    _write_private(kept_file, json.dumps(kept, indent=2) + "\n")
    lines = [
        "# Written by `make run` (scripts/quickstart.py) on every start; edit GRANTS there instead.",
        "# Only SHA-256 digests: the tokens are in tokens.json next to this file.",
        "api:",
        "  auth:",
        "    tokens:",
    ]
    for grant in GRANTS:
        digest = hashlib.sha256(tokens[grant.name].encode()).hexdigest()
        lines += [
            f"      - name: {grant.name}",
            f"        token_sha256: {digest}",
            f"        scopes: [{', '.join(json.dumps(s) for s in grant.scopes)}]",
        ]
    _write_private(data / "api-tokens.yaml", "\n".join(lines) + "\n")
    return tokens


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    path.chmod(0o600)


def banner(tokens: dict[str, str], listen: str, config_dir: Path) -> str:
    lines = [
        f"\n  ductile gateway on http://{listen}  (config: {config_dir})",
        "",
        "  API tokens (generated ones are kept in data/tokens.json; send as 'Authorization: Bearer <token>'):",
    ]
    for grant in GRANTS:
        lines.append(f"    {grant.name:9} {tokens[grant.name]}")
        lines += [f"      {scope:10} {SCOPE_WORDS.get(scope, 'unknown scope')}" for scope in grant.scopes]
    admin, readonly = tokens["admin"], tokens["readonly"]
    lines += [
        "  Values under secret-looking keys (token, password, api_key, ...) in results, state, events and",
        "  logs are shown as *** to every token; plugins still get the real values (docs/OPERATIONS.md).",
        "",
        f"  try:  curl -s -H 'Authorization: Bearer {readonly}' 'http://{listen}/jobs?limit=5'",
        f"        export DUCTILE_TOKEN={admin}; .venv/bin/ductile job list --api-url http://{listen}",
        f"        .venv/bin/ductile system monitor --api-url http://{listen} --token {readonly}",
        f"        .venv/bin/ductile api '/jobs?status=failed' --api-url http://{listen} --token {readonly}",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", default="examples/quickstart")
    args = parser.parse_args()
    config_dir = Path(args.config).resolve()
    tokens = ensure_tokens(config_dir, dict(os.environ))
    env = dict(os.environ)
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = venv_bin + os.pathsep + env.get("PATH", "")
    print(banner(tokens, env.get("DUCTILE_LISTEN", "127.0.0.1:8080"), config_dir), flush=True)
    ductile = Path(venv_bin) / "ductile"
    os.execve(str(ductile), [str(ductile), "system", "start", "--config", str(config_dir)], env)


if __name__ == "__main__":
    main()
