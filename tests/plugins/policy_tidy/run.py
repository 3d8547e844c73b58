#!/usr/bin/env python3
"""policy_tidy: enforce README.md + CHANGELOG.md in a repository and commit the change.

The result text starts with "repo_policy: updated" or "repo_policy: no changes" like the real
repo_policy, so pipelines and tests written for that plugin read ours the same way.
"""

import json
import os
import subprocess
import sys


def pick(payload, context, key):
    for source in (payload, context):
        if source.get(key) not in (None, ""):
            return source[key]
    return None


def repo_path(payload, context):
    direct = pick(payload, context, "path") or pick(payload, context, "repo_path")
    if direct:
        return os.path.expanduser(str(direct))
    parts = [pick(payload, context, k) for k in ("clone_dir", "owner", "repo_name")]
    return os.path.join(os.path.expanduser(str(parts[0])), str(parts[1]), str(parts[2])) if all(parts) else None


def tidy(repo, name, config):
    heading = config.get("changelog_heading", "Changelog")
    link = f"## {heading}\nSee [CHANGELOG.md](CHANGELOG.md).\n"
    changed = []
    readme = os.path.join(repo, "README.md")
    if not os.path.exists(readme):
        with open(readme, "w", encoding="utf-8") as handle:
            handle.write("# {}\n\n{}".format(config.get("readme_heading", name), link))
        changed.append("README.md")
    else:
        with open(readme, encoding="utf-8") as handle:
            text = handle.read()
        if "changelog" not in text.lower():
            with open(readme, "w", encoding="utf-8") as handle:
                handle.write(text.rstrip() + "\n\n" + link)
            changed.append("README.md")
    changelog = os.path.join(repo, "CHANGELOG.md")
    if not os.path.exists(changelog):
        with open(changelog, "w", encoding="utf-8") as handle:
            handle.write(f"# {heading}\n\n")
        changed.append("CHANGELOG.md")
    return changed


def commit(repo, files, author):
    """Commit only inside a git work tree; an explicit identity so no global git config is needed."""
    if not os.path.isdir(os.path.join(repo, ".git")):
        return None
    name, _, email = author.partition(" <")
    ident = ["-c", "user.name=" + name, "-c", "user.email=" + email.rstrip(">")]
    subprocess.run(["git", "add", "--", *files], cwd=repo, capture_output=True, check=True)
    out = subprocess.run(
        ["git", *ident, "commit", "--quiet", "-m", "repo policy: add " + ", ".join(files)],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    return out.stderr.strip() if out.returncode != 0 else None


def handle(request):
    config = request.get("config") or {}
    context = request.get("context") or {}
    payload = (request.get("event") or {}).get("payload") or {}
    repo = repo_path(payload, context)
    if not repo:
        return {
            "status": "error",
            "error": "missing repo path (path/repo_path or owner+repo_name+clone_dir)",
            "retry": False,
        }
    if not os.path.isdir(repo):
        return {"status": "error", "error": "repo path does not exist: " + repo, "retry": False}
    name = pick(payload, context, "repo_name") or os.path.basename(repo)
    changed = tidy(repo, name, config)
    logs = []
    if changed:
        problem = commit(repo, changed, str(config.get("author") or "policy_tidy <policy_tidy@localhost>"))
        if problem:
            logs.append({"level": "warn", "message": "commit failed: " + problem})
    summary = "repo_policy: updated " + ", ".join(changed) if changed else "repo_policy: no changes"
    event = {
        "type": "repo_policy.completed",
        "payload": {"repo_path": repo, "repo_name": name, "changed": bool(changed), "files_changed": changed},
    }
    return {
        "status": "ok",
        "result": summary,
        "events": [event],
        "logs": [*logs, {"level": "info", "message": summary}],
    }


def main():
    request = json.load(sys.stdin)
    if request.get("command") == "health":
        response = {"status": "ok", "result": "policy_tidy healthy"}
    else:
        response = handle(request)
    sys.stdout.write(json.dumps(response) + "\n")


if __name__ == "__main__":
    main()
