"""`make run`: start the gateway on the bundled example config with a generated API token.

The token is kept in <config>/data/token so it stays the same across runs; set DUCTILE_TOKEN to
use your own. The virtualenv's bin goes first on PATH so plugins' `#!/usr/bin/env python3`
resolves to a real interpreter instead of a slow version-manager shim.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", default="examples/quickstart")
    args = parser.parse_args()
    config_dir = Path(args.config).resolve()
    token_file = config_dir / "data" / "token"
    token = os.environ.get("DUCTILE_TOKEN")
    if not token:
        if token_file.exists():
            token = token_file.read_text().strip()
        else:
            token = secrets.token_urlsafe(24)
            token_file.parent.mkdir(parents=True, exist_ok=True)
            token_file.write_text(token + "\n")
            token_file.chmod(0o600)
    env = dict(os.environ, DUCTILE_TOKEN=token)
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = venv_bin + os.pathsep + env.get("PATH", "")
    listen = env.get("DUCTILE_LISTEN", "127.0.0.1:8080")
    print(
        f"\n  ductile gateway on http://{listen}  (config: {config_dir})\n"
        f"  API token (scope *): {token}\n\n"
        f"  try:  curl -s -H 'Authorization: Bearer {token}' 'http://{listen}/jobs?limit=5'\n"
        f"        export DUCTILE_TOKEN={token}; .venv/bin/ductile job list --api-url http://{listen}\n",
        flush=True,
    )
    ductile = Path(venv_bin) / "ductile"
    os.execve(str(ductile), [str(ductile), "system", "start", "--config", str(config_dir)], env)


if __name__ == "__main__":
    main()
