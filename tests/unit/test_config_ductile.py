"""Ductile configs load: fixture configs in the shape of Ductile's documented examples give zero
problems and exactly one warning per ignored key (config_compat)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from ductile.config import read_config, resolve_config_file
from ductile.config_compat import NOT_YET, parse_dotenv

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ductile_configs"
ENV = {"DUCTILE_ADMIN_TOKEN": "admin-token-from-env", "HOME": "/nonexistent"}

# fixture → the key paths that must each get exactly one warning (and no others).
EXPECTED = {
    "config_reference.yaml": [
        "service.tick_interval",
        "service.strict_mode",
        "service.job_queue_retention",
        "tcc_paths",
        "instances",
        "remote_ingress",
        "routes",
        "tokens",
    ],
    "plugin_readmes.yaml": [
        "plugins.harvest.timeout",
        "plugins.birds.max_attempts",
        "plugins.birds.concurrency_safe",
        "plugins.reader.path",
    ],
    "scheduling.yaml": [
        "plugins.reports.schedules.1.preferred_window",
    ],
    "security.yaml": [
        "service.admission",
        "service.unconfined",
        "secrets",
        "accounts",
        "api.management_socket",
        "api.auth.tokens.2.scopes",
        "plugins.sync.run_as",
        "plugins.sync.requires_vault",
    ],
}


def _copy(tmp_path: Path, name: str) -> Path:
    for item in FIXTURES.iterdir():
        shutil.copy(item, tmp_path / item.name)
    return tmp_path / name


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_loads_with_one_warning_per_ignored_key(tmp_path: Path, name: str) -> None:
    read = read_config(_copy(tmp_path, name), env=dict(ENV))
    assert read.problems == []
    for key in EXPECTED[name]:
        hits = [w for w in read.warnings if f": {key}: " in w]
        assert len(hits) == 1, (key, read.warnings)
    assert len(read.warnings) == len(EXPECTED[name]), read.warnings
    assert all(w.startswith(str(tmp_path / name)) for w in read.warnings)


def test_every_fixture_file_is_covered() -> None:
    assert {p.name for p in FIXTURES.glob("*.yaml")} == set(EXPECTED)


def test_state_alias_dotenv_and_derived_token_names(tmp_path: Path) -> None:
    read = read_config(_copy(tmp_path, "config_reference.yaml"), env=dict(ENV))
    assert read.loaded is not None
    loaded = read.loaded
    assert loaded.db_path == tmp_path / "data" / "state.db"
    tokens = loaded.config.api.auth.tokens
    # ${ADMIN_API_KEY} came from reference.env (environment_vars.include), loaded before substitution.
    assert tokens[0].digest == hashlib.sha256(b"admin-token-from-dotenv").digest()
    names = [t.name for t in tokens]
    assert names[0] == "token-" + hashlib.sha256(b"admin-token-from-dotenv").hexdigest()[:8]
    assert len(set(names)) == 3
    # job_log_retention 30d and job_queue_retention 24h → one retention, the longer one.
    assert loaded.config.service.job_retention["default"] == 30 * 86400.0


def test_dotenv_never_overrides_a_set_variable(tmp_path: Path) -> None:
    read = read_config(_copy(tmp_path, "config_reference.yaml"), env={**ENV, "ADMIN_API_KEY": "from-process-env"})
    assert read.loaded is not None
    assert read.loaded.config.api.auth.tokens[0].digest == hashlib.sha256(b"from-process-env").digest()


def test_missing_dotenv_file_is_a_problem(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("environment_vars:\n  include: [missing.env]\n")
    read = read_config(config, env={})
    assert any("environment_vars.include: cannot read 'missing.env'" in p for p in read.problems)


def test_environment_vars_in_an_included_file_is_one_warning_not_silence(tmp_path: Path) -> None:
    (tmp_path / "extra.yaml").write_text("environment_vars:\n  include: [extra.env]\n")
    (tmp_path / "extra.env").write_text("FROM_EXTRA=1\n")
    config = tmp_path / "config.yaml"
    config.write_text("include: [extra.yaml]\n")
    read = read_config(config, env={})
    assert not read.problems
    [warning] = [w for w in read.warnings if "environment_vars" in w]
    assert "extra.yaml" in warning and "ignored in an included file" in warning


def test_secret_ref_env_and_legacy_tokens(tmp_path: Path) -> None:
    read = read_config(_copy(tmp_path, "security.yaml"), env=dict(ENV))
    assert read.loaded is not None
    tokens = read.loaded.config.api.auth.tokens
    assert tokens[0].digest == hashlib.sha256(b"admin-token-from-env").digest()
    assert tokens[1].name == "token-9f86d081"
    config = tmp_path / "legacy.yaml"
    config.write_text(
        "tokens: [{name: cli, key: legacy-key-value}]\n"
        "api: {auth: {tokens: [{secret_ref: cli, scopes: ['*']}, {secret_ref: env:NOPE, scopes: ['*']}]}}\n"
    )
    read = read_config(config, env={})
    assert read.loaded is not None
    assert [p.split(": ", 1)[1] for p in read.problems] == [
        "api.auth.tokens.1.secret_ref: secret_ref 'env:NOPE' not found (accepted: env:NAME with NAME set in "
        "the environment, or the name of a tokens: entry)"
    ]
    config.write_text(
        "tokens: [{name: cli, key: legacy-key-value}]\napi: {auth: {tokens: [{secret_ref: cli, scopes: ['*']}]}}\n"
    )
    read = read_config(config, env={})
    assert read.problems == [] and read.loaded is not None
    assert read.loaded.config.api.auth.tokens[0].digest == hashlib.sha256(b"legacy-key-value").digest()


def test_secret_ref_and_token_together_is_a_problem(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("api: {auth: {tokens: [{token: abcdefghij, secret_ref: env:X, scopes: ['*']}]}}\n")
    read = read_config(config, env={"X": "abcdefghijk"})
    assert any("set exactly one of token, token_sha256 or secret_ref" in p for p in read.problems)


def test_schedule_extras_load_as_written(tmp_path: Path) -> None:
    read = read_config(_copy(tmp_path, "scheduling.yaml"), env=dict(ENV))
    assert read.loaded is not None
    schedules = read.loaded.config.plugins["reports"].schedules
    assert [s.id for s in schedules] == ["weekday-mornings", "nightly", "once", "after-start", "default"]
    morning, nightly, once, after = schedules[:4]
    assert morning.if_running == "cancel" and morning.only_between == "08:00-18:00"
    assert morning.not_on == [0, 6]  # saturday, sunday as Ductile's day numbers (0 = Sunday)
    assert nightly.catch_up == "run_all"
    assert once.at == "2027-01-01T09:00:00Z" and once.mode == "at"
    assert after.after == 600.0 and after.mode == "after"
    assert not [w for w in read.warnings if NOT_YET in w]


def test_database_wins_over_state(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("state: {path: a.db}\ndatabase: {path: b.db}\n")
    read = read_config(config, env={})
    assert read.loaded is not None and read.loaded.db_path == tmp_path / "b.db"
    assert len(read.warnings) == 1 and ": state: ignored: database: is also set" in read.warnings[0]


def test_unknown_keys_outside_ductiles_vocabulary_still_fail(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("service: {tick_intervall: 60s}\n")
    read = read_config(config, env={})
    assert any("service.tick_intervall: unknown key" in p for p in read.problems)


def test_ductile_config_dir_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DUCTILE_CONFIG", raising=False)
    monkeypatch.setenv("DUCTILE_CONFIG_DIR", str(tmp_path))
    assert resolve_config_file(None) == (tmp_path / "config.yaml").resolve()
    monkeypatch.setenv("DUCTILE_CONFIG", str(tmp_path / "other.yaml"))
    assert resolve_config_file(None) == (tmp_path / "other.yaml").resolve()


def test_parse_dotenv_forms() -> None:
    text = "# c\nA=1\nexport B='two words'\nC=\"x\\ny\"\nD=plain # comment\nnot a line\n"
    assert parse_dotenv(text) == {"A": "1", "B": "two words", "C": "x\ny", "D": "plain"}
