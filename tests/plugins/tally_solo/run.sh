#!/usr/bin/env bash
# tally: the multi-node fixture. Appends "<job_id> <attempt>" to <tally_dir>/runs for every run (a
# short O_APPEND write, so runs from several gateways on one host never interleave), sleeps
# sleep_s if set, and answers ok. With exclusive: "yes" it holds <tally_dir>/running.lock (mkdir
# is atomic) while it runs and appends the job id to <tally_dir>/overlaps when the lock is
# already taken: a concurrency_safe: false plugin that ran twice at once leaves a line there.
set -eu
request=$(cat)
field() { printf '%s' "$request" | sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p"; }
job_id=$(field job_id)
dir=$(field tally_dir)
sleep_s=$(field sleep_s)
exclusive=$(field exclusive)
attempt=$(printf '%s' "$request" | sed -n 's/.*"attempt":\([0-9]*\).*/\1/p')
mkdir -p "$dir"
held=no
if [ "$exclusive" = "yes" ]; then
  if mkdir "$dir/running.lock" 2>/dev/null; then held=yes; else echo "$job_id" >> "$dir/overlaps"; fi
fi
echo "$job_id ${attempt:-?}" >> "$dir/runs"
if [ -n "$sleep_s" ]; then sleep "$sleep_s"; fi
if [ "$held" = "yes" ]; then rmdir "$dir/running.lock"; fi
printf '{"status":"ok","result":"counted"}\n'
