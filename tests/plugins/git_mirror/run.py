#!/usr/bin/env python3
"""git_mirror: one repository per event, kept as a local mirror under clone_dir/owner/repo_name.

Same contract as the real git_repo_sync (fields read from the payload, falling back to the request
context so baggage can supply them; the completion event is what tidy pipelines key on), written
independently for the tests.
"""

import json
import os
import shutil
import subprocess
import sys


def git(args, cwd=None):
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)


def rev(repo, ref):
    out = git(["rev-parse", "--verify", "--quiet", ref], cwd=repo)
    return out.stdout.strip() if out.returncode == 0 else ""


def fail(message, retry):
    return {"status": "error", "error": message, "retry": retry, "logs": [{"level": "error", "message": message}]}


def sync(fields):
    owner, name, url = fields.get("owner"), fields.get("repo_name"), fields.get("clone_url") or fields.get("ssh_url")
    if not (owner and name and url):
        return fail("missing required payload fields (owner, repo_name, clone_url/ssh_url)", False)
    branch = fields.get("default_branch") or "main"
    base = os.path.expanduser(str(fields.get("clone_dir") or "~/mirrors"))
    repo = os.path.join(base, str(owner), str(name))
    before = after = ""
    count = 0
    if os.path.isdir(os.path.join(repo, ".git")):
        action = "fetched"
        before = rev(repo, "origin/" + branch)
        out = git(["fetch", "--prune", "--quiet"], cwd=repo)
        if out.returncode != 0:
            return fail("fetch failed: " + out.stderr.strip(), True)
        after = rev(repo, "origin/" + branch)
        if before and after and before != after:
            listed = git(["rev-list", "--count", before + ".." + after], cwd=repo)
            count = int(listed.stdout.strip() or 0) if listed.returncode == 0 else 0
            git(["merge", "--ff-only", "--quiet", "origin/" + branch], cwd=repo)
    elif os.path.exists(repo):
        return fail("path exists but is not a git repo: " + repo, False)
    else:
        action = "cloned"
        os.makedirs(os.path.dirname(repo), exist_ok=True)
        out = git(["clone", "--quiet", str(url), repo])
        if out.returncode != 0:
            return fail("clone failed: " + out.stderr.strip(), True)
        after = rev(repo, "origin/" + branch) or rev(repo, "HEAD")
    new_commits = action == "cloned" or bool(before and after and before != after)
    summary = f"Repo sync {action}: {owner}/{name}"
    payload = {
        "message": summary,
        "text": summary,
        "result": summary,
        "owner": owner,
        "repo_name": name,
        "path": repo,
        "action": action,
        "new_commits": new_commits,
        "commit_count": count,
        "before_sha": before,
        "after_sha": after,
        "default_branch": branch,
        "clone_url": fields.get("clone_url") or "",
    }
    return {
        "status": "ok",
        "result": summary,
        "events": [{"type": "git_repo_sync.completed", "payload": payload}],
        "logs": [{"level": "info", "message": summary}],
    }


def main():
    request = json.load(sys.stdin)
    if request.get("command") == "health":
        found = shutil.which("git")
        response = {"status": "ok", "result": "git at " + found} if found else fail("git not found on PATH", False)
    else:
        context = request.get("context") or {}
        payload = (request.get("event") or {}).get("payload") or {}
        keys = ("owner", "repo_name", "clone_url", "ssh_url", "clone_dir", "default_branch")
        response = sync({k: payload.get(k) or context.get(k) for k in keys})
    sys.stdout.write(json.dumps(response) + "\n")


if __name__ == "__main__":
    main()
