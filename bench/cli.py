"""How fast the CLI answers: `ductile job list --api-url …`, `ductile system status --api-url …` and
`ductile api /jobs …` end to end beside `curl` for the same request, and `ductile --help`, against a real gateway on
loopback.

    .venv/bin/python bench/cli.py            # 30 runs of each, interleaved
    .venv/bin/python bench/cli.py --runs 10

Every run is a fresh process (what a person or a script pays). The runs of each command are
interleaved so drift on a shared machine hits all alike; printed per command: median and p90 wall
time, median CPU time (user+sys of the process, steadier than wall on a busy machine), and the
median of the per-round difference to curl (the paired comparison). Target (issue 13):
`job list --api-url` ≤ 150 ms end to end. The same command ending in `--` goes through Typer (the
fast path hands any argv it does not fully know to Typer; `--` changes nothing there), which shows
what the fast path saves on the very same request and output.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

TOKEN = "bench-cli-token-0123456789abcdef"
DUCTILE = str(Path(sys.executable).parent / "ductile")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(work: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    (work / "plugins").mkdir()
    config = {
        "service": {"log_format": "json", "log_level": "warning"},
        "database": {"path": "./data/ductile.db"},
        "plugin_roots": [str(work / "plugins")],
        "plugins": {},
        "api": {
            "enabled": True,
            "listen": f"127.0.0.1:{port}",
            "auth": {"tokens": [{"name": "bench", "token": TOKEN, "scopes": ["*"]}]},
        },
    }
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    log = open(work / "gateway.log", "wb")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen([DUCTILE, "system", "start", "--config", str(work)], stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if subprocess.run(["curl", "-sf", f"{url}/healthz"], capture_output=True).returncode == 0:
            return proc, url
        time.sleep(0.1)
    raise SystemExit("gateway did not start; see " + str(work / "gateway.log"))


def timed(argv: list[str]) -> tuple[float, float]:
    """Wall and CPU milliseconds of one run."""
    t = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = (time.perf_counter() - t) * 1000
    err = proc.stderr.read() if proc.stderr else b""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {err.decode()[:300]}")
    return elapsed, (usage.ru_utime + usage.ru_stime) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ductile-bench-cli-") as tmp:
        proc, url = start(Path(tmp))
        try:
            sides = {
                "curl GET /jobs": ["curl", "-sf", "-H", f"Authorization: Bearer {TOKEN}", f"{url}/jobs?limit=20"],
                "ductile job list --api-url": [DUCTILE, "job", "list", "--api-url", url, "--token", TOKEN],
                "  same via Typer (ends in --)": [DUCTILE, "job", "list", "--api-url", url, "--token", TOKEN, "--"],
                "ductile system status --api-url": [DUCTILE, "system", "status", "--api-url", url, "--token", TOKEN],
                "  same via Typer (ends in --) ": [DUCTILE, "system", "status", "--api-url", url, "--token", TOKEN, "--"],
                "ductile api /jobs?limit=20": [DUCTILE, "api", "/jobs?limit=20", "--api-url", url, "--token", TOKEN],
                "  same via Typer (ends in --)  ": [
                    DUCTILE, "api", "/jobs?limit=20", "--api-url", url, "--token", TOKEN, "--",
                ],
                "ductile --help": [DUCTILE, "--help"],
                "python -c pass": [sys.executable, "-c", "pass"],
            }
            times: dict[str, list[tuple[float, float]]] = {name: [] for name in sides}
            print(f"load average before: {os.getloadavg()[0]:.2f}; {args.runs} runs of each, interleaved")
            for _ in range(args.runs):
                for name, argv in sides.items():
                    times[name].append(timed(argv))
            curl = times["curl GET /jobs"]
            for name, runs in times.items():
                wall = sorted(w for w, _ in runs)
                p90 = wall[max(0, int(len(wall) * 0.9) - 1)]
                cpu = statistics.median(c for _, c in runs)
                paired = statistics.median(w - c for (w, _), (c, _) in zip(runs, curl, strict=True))
                print(
                    f"{name:32} median {statistics.median(wall):7.1f} ms   p90 {p90:7.1f} ms   "
                    f"cpu {cpu:6.1f} ms   vs curl {paired:+7.1f} ms"
                )
            print(f"load average after: {os.getloadavg()[0]:.2f}")
        finally:
            proc.terminate()
            proc.wait(30)


if __name__ == "__main__":
    main()
