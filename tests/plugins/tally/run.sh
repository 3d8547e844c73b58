#!/usr/bin/env bash
# tally: the multi-node fixture. Appends "<job_id> <attempt>" to <tally_dir>/runs for every run (a
# short O_APPEND write, so runs from several gateways on one host never interleave), sleeps
# sleep_s if set, and answers ok. With exclusive: "yes" it holds <tally_dir>/running.lock (mkdir
# is atomic) while it runs and appends the job id to <tally_dir>/overlaps when the lock is
# already taken: a concurrency_safe: false plugin that ran twice at once leaves a line there.
# Bash builtins only on the common path (no sed/cat per run): the 3,000-job cluster test spawns
# it 3,000 times on two cores. tally_solo runs this file too.
set -eu
IFS= read -r -d '' request || true
pick() { if [[ $request =~ $1 ]]; then REPLY=${BASH_REMATCH[1]}; else REPLY=; fi; }
pick '"job_id":"([^"]*)"'; job_id=$REPLY
pick '"tally_dir":"([^"]*)"'; dir=$REPLY
pick '"sleep_s":"([^"]*)"'; sleep_s=$REPLY
pick '"exclusive":"([^"]*)"'; exclusive=$REPLY
pick '"attempt":([0-9]+)'; attempt=${REPLY:-?}
[ -d "$dir" ] || mkdir -p "$dir"
held=no
if [ "$exclusive" = "yes" ]; then
  if mkdir "$dir/running.lock" 2>/dev/null; then held=yes; else echo "$job_id" >> "$dir/overlaps"; fi
fi
echo "$job_id $attempt" >> "$dir/runs"
if [ -n "$sleep_s" ]; then sleep "$sleep_s"; fi
if [ "$held" = "yes" ]; then rmdir "$dir/running.lock"; fi
printf '{"status":"ok","result":"counted"}\n'
