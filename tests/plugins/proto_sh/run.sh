#!/usr/bin/env bash
# Echo the request back as the result (it is one JSON object), plus what the environment held.
set -eu
request=$(cat)
printf '{"status":"ok","result":{"request":%s,"pass":"%s","secret":"%s","home_set":"%s","cwd":"%s","args":%d},' \
  "$request" "${DUCTILE_TEST_PASS:-}" "${DUCTILE_TEST_SECRET:-}" "${HOME:+yes}" "$PWD" "$#"
printf '"state_updates":{"bash_seen":true},"logs":[{"level":"debug","message":"bash %s"}]}\n' "$BASH_VERSION"
