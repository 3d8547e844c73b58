"""Shared fixtures: temp plugin dirs, temp configs, and a real gateway subprocess on a free port.

Everything is real: plugins are executable scripts, the database is a file in tmp_path, the API
is uvicorn on loopback.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
BUNDLED_PLUGINS = REPO / "plugins"
VENV_BIN = Path(sys.executable).parent
DUCTILE = str(VENV_BIN / "ductile")
ADMIN_TOKEN = "test-admin-token-0123456789"

# A plugin that reads the request and answers ok: for tests about everything around the job.
OK_PLUGIN = """\
#!/usr/bin/env python3
import json, sys
json.load(sys.stdin)
print(json.dumps({"status": "ok", "result": "done"}))
"""


def run_ductile(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The real `ductile` CLI as a user runs it: text output, this process's environment."""
    return subprocess.run([DUCTILE, *args], capture_output=True, text=True, timeout=timeout, env=os.environ.copy())


# Plugins' `#!/usr/bin/env python3` must find the venv interpreter (fast), not a version-manager shim.
os.environ["PATH"] = f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_plugin(
    root: Path,
    name: str,
    script: str,
    *,
    commands: list[dict[str, Any]] | None = None,
    entrypoint: str = "run",
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write an executable plugin: `script` is the whole entrypoint text including its shebang."""
    directory = root / name
    directory.mkdir(parents=True, exist_ok=True)
    manifest = {
        "manifest_spec": "ductile.plugin",
        "manifest_version": 1,
        "name": name,
        "version": "0.0.1",
        "protocol": 2,
        "entrypoint": entrypoint,
        "commands": commands or [{"name": "poll", "type": "read"}, {"name": "handle", "type": "write"}],
        **(extra or {}),
    }
    (directory / "manifest.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    entry = directory / entrypoint
    entry.write_text(textwrap.dedent(script).lstrip())
    entry.chmod(0o755)
    return directory


def quickstart_script() -> Any:
    """scripts/quickstart.py (what `make run` runs) as a module, for its token generation."""
    spec = importlib.util.spec_from_file_location("quickstart_script", REPO / "scripts" / "quickstart.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def write_config(directory: Path, data: dict[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def base_config(plugin_roots: list[Path], plugins: dict[str, Any], *, port: int | None = None, **extra: Any) -> dict:
    config: dict[str, Any] = {
        "service": {"log_format": "json", "kill_grace": "1s", "drain_grace": "5s", "max_workers": 2},
        "database": {"path": "./data/ductile.db"},
        "plugin_roots": [str(p) for p in plugin_roots],
        "plugins": plugins,
    }
    if port is not None:
        config["api"] = {
            "enabled": True,
            "listen": f"127.0.0.1:{port}",
            "auth": {"tokens": [{"name": "admin", "token": ADMIN_TOKEN, "scopes": ["*"]}]},
        }
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    return config


@dataclass
class GatewayProcess:
    """`ductile system start` as a real subprocess; `url` is set when the API is enabled."""

    config_dir: Path
    port: int | None = None
    token: str = ADMIN_TOKEN
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.config_dir / "gateway.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def db_path(self) -> Path:
        return self.config_dir / "data" / "ductile.db"

    def start(self, wait: bool = True, timeout: float = 60.0) -> GatewayProcess:
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(
            [DUCTILE, "system", "start", "--config", str(self.config_dir)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=os.environ.copy(),
        )
        log.close()
        if wait:
            try:
                self.wait_ready(timeout)
            except BaseException:
                self.stop(signal.SIGKILL)  # a gateway that never got ready must not outlive its test
                raise
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        """A deadline, not a speed test: on a machine shared by many jobs a start takes 10-15 s."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited with {self.proc.returncode}:\n{self.log()}")
            if self.port is None:
                if "gateway started" in self.log():
                    return
            else:
                try:
                    if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
            time.sleep(0.05)
        raise RuntimeError(f"gateway not ready after {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_records(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    def client(self, token: str | None = None) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token or self.token}"}, timeout=10.0)


@pytest.fixture
def gateway_factory(tmp_path: Path) -> Iterator[Any]:
    """Build gateways on demand; all are stopped at teardown."""
    started: list[GatewayProcess] = []

    def factory(config: dict[str, Any], *, start: bool = True, name: str = "gw") -> GatewayProcess:
        directory = tmp_path / name
        write_config(directory, config)
        api = config.get("api") or {}
        port = int(api["listen"].rsplit(":", 1)[1]) if api.get("enabled") else None
        gw = GatewayProcess(directory, port=port)
        started.append(gw)
        if start:
            gw.start()
        return gw

    yield factory
    for gw in started:
        gw.stop(signal.SIGKILL)


def enqueue(url: str, token: str, plugin: str, command: str, payload: Any = None) -> str:
    """POST /plugin/{plugin}/{command} on a live gateway; the new job's id."""
    response = httpx.post(
        f"{url}/plugin/{plugin}/{command}",
        json={"payload": payload or {}},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    return response.json()["job_id"]


def wait_for(predicate: Any, timeout: float = 15.0, interval: float = 0.05, message: str = "condition") -> Any:
    """Poll until predicate() is truthy; return its value. A deadline, not a timing assertion."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")
