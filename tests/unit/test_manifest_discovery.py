"""Plugin discovery: every refusal reason of plugin-protocol.md §1-2; one bad plugin never stops the rest."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from ductile.manifest import default_timeout, discover

SCRIPT = "#!/bin/sh\necho '{}'\n"


def plugin(root: Path, name: str, *, dirname: str | None = None, script: str | None = SCRIPT, **manifest) -> Path:
    directory = root / (dirname or name)
    directory.mkdir(parents=True, exist_ok=True)
    body = {
        "manifest_spec": "ductile.plugin",
        "manifest_version": 1,
        "name": name,
        "version": "1.0",
        "protocol": 2,
        "entrypoint": "run",
        "commands": [{"name": "poll", "type": "read"}],
        **manifest,
    }
    body = {k: v for k, v in body.items() if v is not None}
    (directory / "manifest.yaml").write_text(yaml.safe_dump(body))
    if script is not None:
        entry = directory / "run"
        entry.write_text(script)
        entry.chmod(0o755)
    directory.chmod(0o755)
    return directory


def only_problem(root: Path, **kw) -> str:
    found = discover([root], **kw)
    assert found.plugins == {} or "good" in found.plugins
    assert len(found.problems) == 1, found.problems
    return found.problems[0]


def test_good_plugin_and_its_manifest(tmp_path):
    plugin(
        tmp_path,
        "good",
        description="d",
        concurrency_safe=False,
        config_keys={"required": ["a"], "optional": ["b"]},
        fact_outputs=[{"when": {"command": "poll"}, "from": "state_updates", "fact_type": "t"}],
        stopwatch={"unknown": "keys are ignored"},
        commands=[
            {"name": "poll", "type": "read", "input_schema": {"n": "integer"}},
            {"name": "handle", "type": "write", "input_schema": {"type": "object", "required": ["x"]}},
        ],
    )
    found = discover([tmp_path])
    assert found.problems == [] and found.warnings == []
    good = found.plugins["good"]
    assert good.entrypoint == (tmp_path / "good" / "run").resolve()
    assert good.manifest.concurrency_safe is False
    assert good.manifest.config_keys.required == ["a"]
    assert good.manifest.fact_outputs[0].fact_type == "t"
    poll, handle = good.manifest.commands
    assert poll.json_schema() == {"type": "object", "properties": {"n": {"type": "integer"}}}
    assert handle.json_schema() == {"type": "object", "required": ["x"]}


def test_discovery_is_recursive_and_first_name_wins(tmp_path):
    plugin(tmp_path / "a", "dup", dirname="one")
    plugin(tmp_path / "b" / "deep", "dup", dirname="two")
    plugin(tmp_path / "b", "other")
    found = discover([tmp_path])
    assert sorted(found.plugins) == ["dup", "other"]
    assert found.plugins["dup"].directory == (tmp_path / "a" / "one").resolve()
    assert found.warnings == [
        f"{tmp_path / 'b' / 'deep' / 'two' / 'manifest.yaml'}: duplicate plugin name 'dup' ignored "
        f"(first found in {(tmp_path / 'a' / 'one').resolve()})"
    ]


def test_missing_root_is_reported(tmp_path):
    found = discover([tmp_path / "nope"])
    assert found.problems == [f"{tmp_path / 'nope'}: plugin root does not exist or is not a directory"]


def test_one_bad_plugin_does_not_stop_the_others(tmp_path):
    plugin(tmp_path, "good")
    plugin(tmp_path, "bad", protocol=1)
    found = discover([tmp_path])
    assert list(found.plugins) == ["good"]
    assert len(found.problems) == 1


@pytest.mark.parametrize(
    ("manifest", "reason"),
    [
        ({"protocol": 1}, "protocol is 1; only protocol 2 is supported"),
        ({"manifest_spec": "other"}, "invalid manifest: manifest_spec: Input should be 'ductile.plugin'"),
        ({"manifest_version": 2}, "invalid manifest: manifest_version: Input should be 1"),
        ({"name": "9lives"}, "invalid manifest: name: String should match pattern '^[A-Za-z][A-Za-z0-9_-]*$'"),
        ({"commands": []}, "invalid manifest: commands: List should have at least 1 item after validation"),
        ({"commands": {"poll": {"type": "read"}}}, "invalid manifest: commands: Input should be a valid list"),
        ({"commands": [{"name": "poll"}]}, "invalid manifest: commands.0.type: Field required"),
        (
            {"commands": [{"name": "poll", "type": "exec"}]},
            "invalid manifest: commands.0.type: Input should be 'read' or 'write'",
        ),
        (
            {"commands": [{"name": "poll", "type": "read"}, {"name": "poll", "type": "write"}]},
            "command names repeated: poll",
        ),
        ({"entrypoint": None}, "invalid manifest: entrypoint: Field required"),
        ({"entrypoint": "/bin/sh"}, "entrypoint '/bin/sh' is absolute (must be relative to the plugin dir)"),
        ({"entrypoint": "../run"}, "entrypoint '../run' contains '..'"),
        ({"entrypoint": "missing.py"}, "entrypoint 'missing.py' does not exist"),
        (
            {"stopwatch": {"max_subs": 0}},
            "invalid manifest: stopwatch.max_subs: Value error, got 0 (accepted: an integer 1..256; default 32)",
        ),
        (
            {"stopwatch": {"max_subs": 257}},
            "invalid manifest: stopwatch.max_subs: Value error, got 257 (accepted: an integer 1..256; default 32)",
        ),
        ({"stopwatch": {"max_subs": "8"}}, "invalid manifest: stopwatch.max_subs: Value error, got '8' (accepted"),
    ],
)
def test_manifest_refusals_name_the_file_and_reason(tmp_path, manifest, reason):
    plugin(tmp_path, manifest.pop("name", "p"), dirname="p", **manifest)
    problem = only_problem(tmp_path)
    assert problem.startswith(f"{tmp_path / 'p' / 'manifest.yaml'}: {reason}"), problem


@pytest.mark.parametrize(
    ("stopwatch", "max_subs"), [(None, 32), ({}, 32), ({"max_subs": 1}, 1), ({"max_subs": 256}, 256)]
)
def test_stopwatch_max_subs_defaults_to_32_and_accepts_1_to_256(tmp_path, stopwatch, max_subs):
    plugin(tmp_path, "p", stopwatch=stopwatch)
    assert discover([tmp_path]).plugins["p"].manifest.stopwatch.max_subs == max_subs


def test_version_is_tolerated_when_absent(tmp_path):
    plugin(tmp_path, "p", version=None)
    assert "p" in discover([tmp_path]).plugins


def test_not_yaml_and_not_a_map(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "manifest.yaml").write_text("name: [unclosed\n")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "manifest.yaml").write_text("- just a list\n")
    problems = discover([tmp_path]).problems
    assert problems[0].startswith(f"{tmp_path / 'a' / 'manifest.yaml'}: not valid YAML")
    assert problems[1] == f"{tmp_path / 'b' / 'manifest.yaml'}: manifest must be a mapping of keys"


def test_entrypoint_not_executable(tmp_path):
    directory = plugin(tmp_path, "p")
    (directory / "run").chmod(0o644)
    assert only_problem(tmp_path) == (
        f"{directory / 'manifest.yaml'}: entrypoint 'run' is not an executable file (chmod +x it)"
    )


def test_entrypoint_that_is_a_directory(tmp_path):
    directory = plugin(tmp_path, "p", script=None, entrypoint="bin")
    (directory / "bin").mkdir()
    assert "entrypoint 'bin' is not an executable file" in only_problem(tmp_path)


def test_symlinked_entrypoint_refused_unless_allowed(tmp_path):
    directory = plugin(tmp_path, "p", script=None, entrypoint="run")
    real = directory / "real.sh"
    real.write_text(SCRIPT)
    real.chmod(0o755)
    os.symlink("real.sh", directory / "run")
    assert only_problem(tmp_path) == (
        f"{directory / 'manifest.yaml'}: entrypoint 'run' is a symlink (set service.allow_symlinks to allow)"
    )
    assert "p" in discover([tmp_path], allow_symlinks=True).plugins


def test_symlink_pointing_outside_is_refused_even_when_symlinks_are_allowed(tmp_path):
    outside = tmp_path / "outside.sh"
    outside.write_text(SCRIPT)
    outside.chmod(0o755)
    directory = plugin(tmp_path / "root", "p", script=None)
    os.symlink(outside, directory / "run")
    found = discover([tmp_path / "root"], allow_symlinks=True)
    assert found.problems == [f"{directory / 'manifest.yaml'}: entrypoint 'run' resolves outside the plugin directory"]


def test_symlinked_plugin_directory_refused_unless_allowed(tmp_path):
    real = plugin(tmp_path / "store", "p")
    (tmp_path / "root").mkdir()
    os.symlink(real, tmp_path / "root" / "p")
    found = discover([tmp_path / "root"])
    assert found.plugins == {}
    assert found.problems == [
        f"{tmp_path / 'root' / 'p' / 'manifest.yaml'}: plugin directory is a symlink (set service.allow_symlinks to allow)"
    ]
    found = discover([tmp_path / "root"], allow_symlinks=True)
    assert "p" in found.plugins


def test_world_writable_plugin_directory(tmp_path):
    directory = plugin(tmp_path, "p")
    directory.chmod(0o777)
    assert only_problem(tmp_path) == (
        f"{directory / 'manifest.yaml'}: plugin directory is world-writable (chmod o-w it)"
    )


def test_default_timeouts():
    assert [default_timeout(c) for c in ("poll", "handle", "health", "init", "sync")] == [60, 120, 10, 30, 60]
