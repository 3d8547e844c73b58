"""`make run` (scripts/quickstart.py) for real: the example config hard-codes no token; the script
generates every token the gateway accepts, prints each with what it may do, and keeps them."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import yaml
from conftest import BUNDLED_PLUGINS, REPO, free_port, wait_for

EXAMPLE = REPO / "examples" / "quickstart" / "config.yaml"


def test_example_config_holds_no_token() -> None:
    text = EXAMPLE.read_text()
    config = yaml.safe_load(text)
    assert "auth" not in config["api"], "API tokens must come from the generated data/api-tokens.yaml"
    assert config["include"] == "data/api-tokens.yaml"
    assert "readonly-demo-token" not in text and "placeholder" not in text
    assert not re.search(r"^\s*token(_sha256)?:", text, re.M)


def _start(config_dir: Path, port: int) -> tuple[subprocess.Popen[bytes], Path]:
    out = config_dir / f"run-{port}.out"
    env = {k: v for k, v in os.environ.items() if k not in ("DUCTILE_TOKEN", "DUCTILE_READONLY_TOKEN")}
    env["DUCTILE_LISTEN"] = f"127.0.0.1:{port}"
    with open(out, "wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, str(REPO / "scripts" / "quickstart.py"), "--config", str(config_dir)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        assert proc.poll() is None, out.read_text()
        try:
            return httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(ready, timeout=30, message="the quickstart gateway answering /healthz")
    return proc, out


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _printed_tokens(banner: str) -> dict[str, tuple[str, list[str]]]:
    """{name: (token, [scope lines])} from the banner's token block."""
    out: dict[str, tuple[str, list[str]]] = {}
    current = None
    for line in banner.splitlines():
        token_line = re.match(r"^    (\w+)\s+(\S{16,})$", line)
        if token_line:
            current = token_line.group(1)
            out[current] = (token_line.group(2), [])
        elif current and re.match(r"^      \S", line):
            out[current][1].append(line.strip())
        elif current:
            current = None
    return out


def test_make_run_generates_prints_and_keeps_every_token(tmp_path: Path) -> None:
    config_dir = tmp_path / "quickstart"
    config_dir.mkdir()
    (config_dir / "config.yaml").write_text(EXAMPLE.read_text().replace("../../plugins", str(BUNDLED_PLUGINS)))
    port = free_port()
    proc, out = _start(config_dir, port)
    url = f"http://127.0.0.1:{port}"
    try:
        printed = _printed_tokens(out.read_text())
        generated = yaml.safe_load((config_dir / "data" / "api-tokens.yaml").read_text())["api"]["auth"]["tokens"]
        assert {t["name"] for t in generated} == set(printed) == {"admin", "readonly"}
        for entry in generated:
            token, scope_lines = printed[entry["name"]]
            assert "token" not in entry, "only digests are written to the included config"
            assert hashlib.sha256(token.encode()).hexdigest() == entry["token_sha256"]
            # every scope, each with a description in words
            assert [line.split()[0] for line in scope_lines] == entry["scopes"]
            assert all(len(line.split()) > 3 for line in scope_lines)
        for name in ("tokens.json", "api-tokens.yaml"):
            assert stat.S_IMODE((config_dir / "data" / name).stat().st_mode) == 0o600

        admin = {"Authorization": f"Bearer {printed['admin'][0]}"}
        readonly = {"Authorization": f"Bearer {printed['readonly'][0]}"}
        assert httpx.get(f"{url}/jobs", headers=readonly).status_code == 200
        assert (
            httpx.post(f"{url}/plugin/echo/say", headers=readonly, json={"payload": {"text": "x"}}).status_code == 403
        )
        assert httpx.post(f"{url}/plugin/echo/say", headers=admin, json={"payload": {"text": "x"}}).status_code == 202
        for guess in ("readonly-demo-token", "quickstart-placeholder-not-a-secret"):
            assert httpx.get(f"{url}/jobs", headers={"Authorization": f"Bearer {guess}"}).status_code == 401
    finally:
        _stop(proc)

    # A second `make run` uses the same tokens.
    proc, out = _start(config_dir, free_port())
    try:
        again = _printed_tokens(out.read_text())
        assert {name: token for name, (token, _) in again.items()} == {
            name: token for name, (token, _) in printed.items()
        }
    finally:
        _stop(proc)
