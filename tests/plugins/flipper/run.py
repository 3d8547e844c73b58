#!/usr/bin/env python3
"""flipper: reads its mode from a file at every run, so a test flips it from failing to healthy.

`fail` (or a missing file) → `{"status": "error", "retry": false}`; anything else → ok.
Each run appends its job id to <mode_file>.runs, so a test can count runs without the API.
"""

import json
import sys


def main():
    request = json.load(sys.stdin)
    mode_file = str((request.get("config") or {})["mode_file"])
    try:
        with open(mode_file) as handle:
            mode = handle.read().strip()
    except OSError:
        mode = "fail"
    with open(mode_file + ".runs", "a") as handle:
        handle.write(f"{request.get('job_id')} {request.get('command')} {mode}\n")
    if mode == "fail":
        response = {"status": "error", "error": "flipper told to fail", "retry": False}
    else:
        response = {"status": "ok", "result": "flipper ok"}
    sys.stdout.write(json.dumps(response) + "\n")


if __name__ == "__main__":
    main()
