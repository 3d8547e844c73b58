#!/usr/bin/env python3
"""secret_keeper: leaks credentials on every channel a plugin has, for the redaction tests.

Every secret is `<marker>-<name>` (config `marker`), so a test knows each plaintext value and can
search every read surface for it. The request's command, state and payload are appended as one
JSON line to the file named by config `record`: what the plugin really received.
"""

import json
import sys

NAMES = ("access", "refresh", "password", "apikey", "bearer", "session", "pin", "url", "event")


def main() -> None:
    request = json.load(sys.stdin)
    config = request.get("config", {})
    state = request.get("state") or {}
    secret = {name: "{}-{}".format(config["marker"], name) for name in NAMES}
    with open(config["record"], "a") as record:
        seen = {"command": request["command"], "state": state, "payload": request.get("payload")}
        record.write(json.dumps(seen) + "\n")
    sys.stderr.write("debug: password: {}\n".format(secret["password"]))
    if request["command"] == "fail":
        error = "token refresh failed: refresh_token={} was rejected".format(secret["refresh"])
        print(json.dumps({"status": "error", "retry": False, "error": error}))
        return
    runs = int(state.get("runs", 0)) + 1
    response = {
        "status": "ok",
        "result": {
            "account": "bob",
            "access_token": secret["access"],
            "items": [{"deep": [{"password": secret["password"], "kind": "login"}]}],
            "note": "called with Authorization: Bearer {}".format(secret["bearer"]),
            "db": "postgres://bob:{}@db.example/app".format(secret["url"]),
        },
        "state_updates": {
            "access_token": secret["access"],
            "refresh_token": secret["refresh"],
            "api_key": secret["apikey"],
            "profile": {"name": "bob", "credentials": {"user": "bob", "pin": secret["pin"]}},
            "session": {"id": secret["session"]},
            "runs": runs,
        },
        "events": [{"type": "secret_keeper.login", "payload": {"who": "bob", "refresh_token": secret["event"]}}],
        "logs": [
            {"level": "info", "message": "using access_token={}".format(secret["access"])},
            {"level": "warn", "message": "retrying with Bearer {}".format(secret["bearer"])},
        ],
    }
    print(json.dumps(response))


if __name__ == "__main__":
    main()
