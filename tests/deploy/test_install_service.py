"""`ductile system install-service` run as a real CLI process; the unit it writes is checked by
systemd's own parser (`systemd-analyze verify`), and deploy/ductile.service cannot drift from it."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import base_config, write_config

from ductile.service_unit import UnitSpec, render
from tests.acceptance.test_gateway_process import cli

ROOT = Path(__file__).resolve().parents[2]
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(
    ANALYZE is None and os.environ.get("CI") != "true",
    reason="systemd-analyze not installed (Debian package systemd); .ci/run installs it",
)


def config_dir(tmp_path: Path, **extra) -> Path:
    (tmp_path / "plugins").mkdir(exist_ok=True)
    return write_config(tmp_path / "cfg", base_config([tmp_path / "plugins"], {}, **extra)).parent


def verify(unit_text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    assert ANALYZE is not None, "systemd-analyze is required under CI=true"
    unit = tmp_path / f"ductile-verify-{os.getpid()}.service"
    unit.write_text(unit_text)
    return subprocess.run([ANALYZE, "verify", str(unit)], capture_output=True, text=True, timeout=60)


@needs_analyze
def test_printed_unit_passes_systemd_verify_and_names_this_config(tmp_path):
    cfg = config_dir(tmp_path, service={"drain_grace": "2m", "kill_grace": "10s"})
    out = cli("system", "install-service", "--config", str(cfg), "--print")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert f"system start --config {cfg}" in text
    assert "Type=notify" in text and "WatchdogSec=30s" in text and "Restart=on-failure" in text
    assert "KillMode=mixed" in text and "TimeoutStopSec=145s" in text  # 120 + 10 + 15
    assert "ExecReload=/bin/kill -HUP $MAINPID" in text  # systemctl reload → SIGHUP → ductile.reload
    assert f"ReadWritePaths={cfg / 'data'}" in text
    result = verify(text, tmp_path)
    assert result.returncode == 0, result.stderr + result.stdout


@needs_analyze
def test_user_unit_has_no_system_sandboxing_and_verifies(tmp_path):
    cfg = config_dir(tmp_path)
    out = cli("system", "install-service", "--config", str(cfg), "--print", "--user")
    assert out.returncode == 0, out.stderr
    assert "ProtectSystem" not in out.stdout and "User=" not in out.stdout
    assert "WantedBy=default.target" in out.stdout
    result = verify(out.stdout, tmp_path)
    assert result.returncode == 0, result.stderr + result.stdout


def test_writes_the_file_refuses_to_overwrite_without_force(tmp_path):
    cfg = config_dir(tmp_path)
    target = tmp_path / "units" / "gw.service"
    first = cli("system", "install-service", "--config", str(cfg), "--output", str(target))
    assert first.returncode == 0, first.stderr
    assert f"wrote {target}" in first.stdout and "systemctl daemon-reload" in first.stdout
    before = target.read_text()
    again = cli("system", "install-service", "--config", str(cfg), "--output", str(target), "--user")
    assert again.returncode == 1 and "already exists; pass --force" in again.stderr
    assert target.read_text() == before
    forced = cli("system", "install-service", "--config", str(cfg), "--output", str(target), "--user", "--force")
    assert forced.returncode == 0 and "WantedBy=default.target" in target.read_text()


def test_bad_input_is_refused_with_the_reason_and_nothing_written(tmp_path):
    cfg = config_dir(tmp_path)
    target = tmp_path / "gw.service"
    cases = [
        (["--run-as", "no-such-account-xyz"], "--run-as: no account named 'no-such-account-xyz'"),
        (["--writable", str(tmp_path / "missing")], "--writable: not a directory"),
    ]
    for args, message in cases:
        out = cli("system", "install-service", "--config", str(cfg), "--output", str(target), *args)
        assert out.returncode == 1 and message in out.stderr, out.stderr
        assert not target.exists()
    broken = tmp_path / "broken"
    write_config(broken, {**base_config([tmp_path / "plugins"], {}), "service": {"max_workers": "many"}})
    out = cli("system", "install-service", "--config", str(broken), "--output", str(target))
    assert out.returncode == 1 and "max_workers" in out.stderr
    assert not target.exists()


def test_checked_in_example_unit_is_what_the_renderer_produces():
    spec = UnitSpec(
        executable=Path("/opt/ductile/.venv/bin/ductile"),
        config=Path("/etc/ductile"),
        working_directory=Path("/etc/ductile"),
        writable=(Path("/var/lib/ductile"),),
        drain_grace=30.0,
        kill_grace=5.0,
        user="ductile",
        environment_file=Path("/etc/ductile/env"),
    )
    assert (ROOT / "deploy" / "ductile.service").read_text() == render(spec)
