#!/usr/bin/env bash
# sys_exec: run config.command, report exit code and the tail of its output.
# Pure bash (no jq): the request is parsed with a tiny reader for the few string fields we need.
set -u

request=$(cat)

# json_string KEY: print the value of the first "KEY":"..." string in the request, unescaped.
json_string() {
  local key=$1 rest value=""
  rest=${request#*\"$key\"}
  [ "$rest" = "$request" ] && return 1
  rest=${rest#*:}
  rest=${rest#"${rest%%[![:space:]]*}"}
  [ "${rest:0:1}" = '"' ] || return 1
  rest=${rest:1}
  local i ch
  for ((i = 0; i < ${#rest}; i++)); do
    ch=${rest:i:1}
    if [ "$ch" = '\' ]; then
      i=$((i + 1)); ch=${rest:i:1}
      case $ch in
        n) value+=$'\n' ;; t) value+=$'\t' ;; r) value+=$'\r' ;; *) value+=$ch ;;
      esac
    elif [ "$ch" = '"' ]; then
      printf '%s' "$value"; return 0
    else
      value+=$ch
    fi
  done
  return 1
}

# escape TEXT: print TEXT as a JSON string body.
escape() {
  local s=$1
  s=${s//\\/\\\\}; s=${s//\"/\\\"}; s=${s//$'\n'/\\n}; s=${s//$'\r'/\\r}; s=${s//$'\t'/\\t}
  s=$(printf '%s' "$s" | tr -d '\000-\010\013\014\016-\037')
  printf '%s' "$s"
}

cmd_name=$(json_string command)
if [ "$cmd_name" = "health" ]; then
  printf '{"status":"ok","result":"bash %s"}\n' "$(escape "$BASH_VERSION")"
  exit 0
fi

# The instance's config.command: look inside the "config" object only.
config_part=${request#*\"config\"}
saved=$request; request=$config_part
shell_cmd=$(json_string command) || shell_cmd=""
request=$saved
if [ -z "$shell_cmd" ]; then
  printf '{"status":"error","error":"config.command is not set (a shell command string is required)","retry":false}\n'
  exit 78
fi

output=$(bash -c "$shell_cmd" 2>&1)
code=$?
tail=$(printf '%s\n' "$output" | tail -n 20)
body=$(escape "$tail")
event='{"type":"sys_exec.completed","payload":{"exit_code":'"$code"',"output":"'"$body"'"}}'
if [ "$code" -eq 0 ]; then
  printf '{"status":"ok","result":"exit 0","events":[%s],"logs":[{"level":"info","message":"command exited 0"}]}\n' "$event"
else
  printf '{"status":"error","error":"command exited %s: %s","events":[%s]}\n' "$code" "$(escape "$(printf '%s' "$tail" | tail -c 200)")" "$event"
fi
