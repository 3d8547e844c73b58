#!/usr/bin/env python3
"""recorder: the §10 acceptance fixture. Tests configure what it answers and read back what it saw.

Every request is written whole to <record_dir>/<job_id>.json (atomically, so a test polling the
directory never reads half a file) before the optional sleep, so a test can see a job has started.
"""

import json
import os
import sys
import time


def record(directory, request):
    os.makedirs(directory, exist_ok=True)
    final = os.path.join(directory, str(request.get("job_id", "unknown")) + ".json")
    partial = final + ".part"
    with open(partial, "w") as handle:
        json.dump(request, handle, sort_keys=True)
    os.replace(partial, final)


def main():
    request = json.load(sys.stdin)
    config = request.get("config") or {}
    if config.get("record_dir"):
        record(str(config["record_dir"]), request)
    if config.get("sleep_s"):
        time.sleep(float(config["sleep_s"]))
    response = {
        "status": config.get("status", "ok"),
        "result": config.get("result", "ok"),
        "events": config.get("emit", []),
        "retry": config.get("retry", True),
        "error": "boom",
    }
    sys.stdout.write(json.dumps(response) + "\n")
    sys.stdout.flush()
    sys.exit(int(config.get("exit_code", 0)))


if __name__ == "__main__":
    main()
