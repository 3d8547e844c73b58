"""`ductile skills` / `ductile system skills`: the skill list read from the config, no gateway needed.

Real CLI processes on a real config: two plugins (one with an input schema, a read and a write
command), a disabled instance and a pipeline. `--json` must equal what a real gateway started on
the same config answers at `GET /skills`; the Markdown must name every skill and never a secret.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import OK_PLUGIN, base_config, free_port, make_plugin, run_ductile, write_config

SECRET = "s3cr3t-value-never-shown-0042"

NOTES_COMMANDS = [
    {"name": "fetch", "type": "read", "description": "Read one note by id."},
    {
        "name": "write",
        "type": "write",
        "description": "Store a note.\nOverwrites a note with the same title.",
        "input_schema": {
            "type": "object",
            "properties": {
                "title": {"type": "string", "description": "The note's title.", "maxLength": 80},
                "body": {"type": "string"},
                "priority": {"type": "integer", "enum": [1, 2, 3], "default": 2},
            },
            "required": ["title"],
            "additionalProperties": False,
        },
    },
]
NESTED_COMMANDS = [
    {"name": "poll", "type": "read"},
    {
        "name": "push",
        "type": "write",
        "input_schema": {
            "type": "object",
            "properties": {"target": {"type": "object", "properties": {"host": {"type": "string"}}}},
        },
    },
]


@pytest.fixture(scope="module")
def config_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("skills")
    plugins = root / "plugins"
    make_plugin(plugins, "notes", OK_PLUGIN, commands=NOTES_COMMANDS, extra={"config_keys": {"optional": ["api_key"]}})
    make_plugin(plugins, "mirror", OK_PLUGIN, commands=NESTED_COMMANDS)
    config = base_config(
        [plugins],
        {
            "notes": {"config": {"api_key": SECRET}},
            "mirror": {},
            "archive": {"uses": "notes", "enabled": False},  # disabled: no skills
        },
        port=free_port(),
        pipelines=[
            {
                "name": "nightly-sync",
                "on": "sync.requested",
                "execution_mode": "synchronous",
                "timeout": "45s",
                "steps": [{"uses": "mirror"}],
            }
        ],
    )
    directory = root / "config"
    write_config(directory, config)
    return directory


def skills_cli(*args: str) -> str:
    result = run_ductile(*args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_markdown_names_every_skill_with_endpoint_tier_and_schema(config_dir: Path) -> None:
    text = skills_cli("skills", "--config", str(config_dir))
    listen = _config(config_dir)["api"]["listen"]
    assert text.startswith(f"# Skills of ductile gateway `ductile` at http://{listen}\n")
    for name, endpoint, tier in [
        ("plugin.mirror.poll", "/plugin/mirror/poll", "READ"),
        ("plugin.mirror.push", "/plugin/mirror/push", "WRITE"),
        ("plugin.notes.fetch", "/plugin/notes/fetch", "READ"),
        ("plugin.notes.write", "/plugin/notes/write", "WRITE"),
    ]:
        section = _section(text, name)
        assert f"- tier: {tier};" in section and f"`POST {endpoint}`" in section
    write = _section(text, "plugin.notes.write")
    assert "Store a note. Overwrites a note with the same title." in write  # one line, in a list-safe place
    assert "- `title` (string, required, maxLength `80`): The note's title." in write
    assert "- `body` (string)" in write
    assert "- `priority` (integer); one of `1`, `2`, `3`; default `2`" in write
    assert "- no other fields are accepted" in write
    assert "no input schema declared" in _section(text, "plugin.notes.fetch")
    push = _section(text, "plugin.mirror.push")  # nested: the schema itself, not a lossy list
    assert "```json" in push and '"host"' in push
    pipeline = _section(text, "pipeline.nightly-sync")
    assert "`POST /pipeline/nightly-sync`" in pipeline and "`sync.requested`" in pipeline
    assert "synchronous" in pipeline and "45 s" in pipeline
    # the calling convention and the scopes an agent's token needs
    for needed in ("Authorization: Bearer <token>", '{"payload": {...}}', "GET /job/<job_id>"):
        assert needed in text
    for scope in ("plugin:invoke:ro", "plugin:rw", "jobs:status:ro", "jobs:result:ro"):
        assert f"`{scope}`" in text
    # order: plugins by name, their commands by name, then pipelines
    order = [text.index(f"### `{n}`") for n in ("plugin.mirror.poll", "plugin.mirror.push", "plugin.notes.fetch")]
    assert order == sorted(order) and text.index("### `pipeline.nightly-sync`") > order[-1]


def test_no_secret_and_no_disabled_plugin(config_dir: Path) -> None:
    for args in (("skills",), ("skills", "--json")):
        out = skills_cli(*args, "--config", str(config_dir))
        assert SECRET not in out
        assert "archive" not in out  # the disabled instance: absent, as from GET /skills
        assert "test-admin-token" not in out  # the API token in the same config


def test_json_equals_a_live_gateways_answer(config_dir: Path, gateway_factory: Any) -> None:
    local = json.loads(skills_cli("skills", "--config", str(config_dir), "--json"))
    gw = gateway_factory(_config(config_dir), name="live")
    with gw.client() as client:
        served = client.get("/skills")
    assert served.status_code == 200
    assert local == served.json()
    assert [s["name"] for s in local["skills"]][-1] == "pipeline.nightly-sync"


def test_system_skills_is_the_same_command(config_dir: Path) -> None:
    for extra in ((), ("--json",)):
        assert skills_cli("system", "skills", "--config", str(config_dir), *extra) == skills_cli(
            "skills", "-c", str(config_dir), *extra
        )


def test_output_is_deterministic(config_dir: Path) -> None:
    assert skills_cli("skills", "--config", str(config_dir)) == skills_cli("skills", "--config", str(config_dir))


def test_disabled_api_is_said(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    make_plugin(plugins, "solo", OK_PLUGIN)
    write_config(tmp_path / "config", base_config([plugins], {"solo": {}}))
    text = skills_cli("skills", "--config", str(tmp_path / "config"))
    assert "`api.enabled: false`" in text and "http://127.0.0.1:8080" in text
    assert "None configured." in _section(text, "Pipelines", level="##")


def test_bad_config_and_bad_option(tmp_path: Path) -> None:
    missing = run_ductile("skills", "--config", str(tmp_path / "nowhere"))
    same = run_ductile("plugin", "list", "--config", str(tmp_path / "nowhere"))
    assert missing.returncode == same.returncode == 1
    assert missing.stderr == same.stderr and missing.stderr.strip() and not missing.stdout
    write_config(tmp_path / "bad", {"plugins": {"ghost": {}}, "plugin_roots": [str(tmp_path)]})
    invalid = run_ductile("system", "skills", "--config", str(tmp_path / "bad"), "--json")
    assert invalid.returncode == 1 and "ghost" in invalid.stderr and not invalid.stdout
    unknown = run_ductile("skills", "--frobnicate")
    assert unknown.returncode == 2 and "No such option" in unknown.stderr


def test_backticks_in_manifest_text_cannot_break_the_markdown() -> None:
    from ductile.skills_doc import _code, _fenced_json

    assert _code("a`b") == "``a`b``" and _code("`x") == "`` `x ``"
    fenced = _fenced_json({"description": "use ``` here"})
    assert fenced[0] == "````json" and fenced[-1] == "````"


def _config(directory: Path) -> dict[str, Any]:
    return yaml.safe_load((directory / "config.yaml").read_text())


def _section(text: str, name: str, level: str = "###") -> str:
    """The text under one heading, up to the next heading of any level."""
    start = text.index(f"{level} `{name}`" if level == "###" else f"{level} {name}")
    rest = text[start + 1 :]
    ends = [i for i in (rest.find("\n## "), rest.find("\n### ")) if i >= 0]
    return rest[: min(ends)] if ends else rest
