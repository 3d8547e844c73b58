#!/usr/bin/env python3
"""token_demo: an OAuth-style poller whose token lives in plugin state and is refreshed on expiry."""

import json
import secrets
import sys
from datetime import datetime, timedelta, timezone


def now() -> datetime:
    return datetime.now(timezone.utc)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def main() -> None:
    request = json.load(sys.stdin)
    config = request.get("config", {})
    state = request.get("state", {})
    account = config.get("account")
    ttl = int(config.get("token_ttl_seconds", 30))
    expires = state.get("expires_at")
    expired = expires is None or datetime.fromisoformat(expires.replace("Z", "+00:00")) <= now()

    if request["command"] == "health":
        status = "expired" if expired else f"valid until {expires}"
        print(json.dumps({"status": "ok", "result": f"token for {account}: {status}"}))
        return

    updates = {}
    logs = []
    refreshes = int(state.get("refresh_count", 0))
    if expired:
        refreshes += 1
        updates = {
            "access_token": "at_" + secrets.token_hex(8),
            "refresh_token": state.get("refresh_token") or "rt_" + secrets.token_hex(8),
            "expires_at": iso(now() + timedelta(seconds=ttl)),
            "refresh_count": refreshes,
        }
        logs.append({"level": "info", "message": f"token refreshed (refresh #{refreshes})"})
    fetches = int(state.get("fetch_count", 0)) + 1
    updates["fetch_count"] = fetches
    count = secrets.randbelow(20) + 1
    print(
        json.dumps(
            {
                "status": "ok",
                "result": f"fetched {count} measurements for {account}",
                "state_updates": updates,
                "events": [{"type": "token_demo.measurements", "payload": {"count": count, "account": account}}],
                "logs": [*logs, {"level": "info", "message": f"fetch #{fetches}"}],
            }
        )
    )


if __name__ == "__main__":
    main()
