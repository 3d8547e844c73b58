"""Duplicate mapping keys: every one is an error naming file, line and key, at any depth, in any file."""

from __future__ import annotations

from pathlib import Path

import pytest

from ductile.config import ConfigError, load_config
from ductile.config_check import check_config
from ductile.config_yaml import parse_yaml
from ductile.manifest import discover


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path.resolve()


def problems_of(directory: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(directory, env={})
    return info.value.problems


def dup(path: Path, line: int, key: str, first: int) -> str:
    return f'{path}:{line}: duplicate key "{key}" (first defined at line {first}; accepted: each key once per mapping)'


def test_two_blocks_of_one_instance_are_an_error_not_a_silent_merge(tmp_path):
    path = write(
        tmp_path / "config.yaml",
        "plugins:\n  flaky:\n    schedules:\n      - {every: 5m}\n  other: {}\n  flaky:\n    config: {x: 1}\n",
    )
    assert problems_of(tmp_path) == [dup(path, 6, "flaky", 2)]


def test_every_duplicate_at_every_depth_is_reported_at_once(tmp_path):
    path = write(
        tmp_path / "config.yaml",
        "service:\n"  # 1
        "  name: a\n"  # 2
        "  name: b\n"  # 3
        "plugins:\n"  # 4
        "  echo:\n"  # 5
        "    config:\n"  # 6
        "      deep: {k: 1, k: 2, k: 3}\n"  # 7: one key three times on one line
        "    schedules:\n"  # 8
        "      - id: a\n"  # 9
        "        every: 5m\n"  # 10
        "        every: 10m\n"  # 11
        "service:\n"  # 12: a top-level repeat too
        "  log_format: text\n",  # 13
    )
    assert problems_of(tmp_path) == (  # in line order
        [
            dup(path, 3, "name", 2),
            dup(path, 7, "k", 7),  # the third `k` gives the very same line, printed once
            dup(path, 11, "every", 10),
            dup(path, 12, "service", 1),
        ]
    )


def test_duplicates_inside_included_files_name_that_file(tmp_path):
    write(tmp_path / "config.yaml", "include: [conf.d]\nplugins:\n  a: {}\n")
    one = write(tmp_path / "conf.d" / "10-one.yaml", "plugins:\n  b: {}\n  b: {}\n")
    two = write(tmp_path / "conf.d" / "20-two.yaml", "service:\n  name: x\n  max_workers: 2\n  name: y\n")
    assert problems_of(tmp_path) == [dup(one, 3, "b", 2), dup(two, 4, "name", 2)]


def test_the_same_key_in_two_files_is_the_documented_merge_not_a_duplicate(tmp_path):
    write(tmp_path / "config.yaml", "include: extra.yaml\nservice:\n  name: root\n")
    write(tmp_path / "extra.yaml", "service:\n  name: extra\n")
    assert load_config(tmp_path, env={}).config.service.name == "extra"


def test_the_parser_keeps_every_repeat_of_a_key():
    data, problems = parse_yaml("a: {k: 1, k: 2, k: 3}\n", Path("f.yaml"))
    assert data == {"a": {"k": 3}}
    assert problems == [dup(Path("f.yaml"), 1, "k", 1)] * 2


def test_merge_keys_and_equal_keys_in_sibling_mappings_are_fine():
    data, problems = parse_yaml(
        "base: &b {every: 5m, id: x}\nlist:\n  - {<<: *b, id: y}\n  - {id: z}\n  - {id: w}\n", Path("f.yaml")
    )
    assert problems == []
    assert data["list"][0] == {"every": "5m", "id": "y"}


def test_a_duplicate_key_does_not_hide_the_other_problems(tmp_path):
    path = write(
        tmp_path / "config.yaml",
        "service:\n  max_workers: lots\nplugins:\n  echo: {}\n  echo: {}\n",
    )
    assert problems_of(tmp_path) == [
        dup(path, 5, "echo", 4),
        f"{path}: service.max_workers: 'lots' is not a whole number (accepted: an integer)",
    ]


def test_a_manifest_with_a_duplicate_key_is_refused_and_its_instance_not_called_unknown(tmp_path):
    directory = tmp_path / "plugins" / "twice"
    directory.mkdir(parents=True)
    manifest = write(
        directory / "manifest.yaml",
        "manifest_spec: ductile.plugin\nmanifest_version: 1\nname: twice\nprotocol: 2\nentrypoint: run\n"
        "commands: [{name: poll, type: read}]\ncommands: [{name: handle, type: write}]\n",
    )
    (directory / "run").write_text("#!/bin/sh\necho '{}'\n")
    (directory / "run").chmod(0o755)
    found = discover([tmp_path / "plugins"])
    assert found.plugins == {}
    assert found.problems == [dup(manifest, 7, "commands", 6)]
    write(tmp_path / "config.yaml", "plugin_roots: [./plugins]\nplugins:\n  twice: {}\n")
    assert check_config(tmp_path, env={}).problems == [dup(manifest, 7, "commands", 6)]
