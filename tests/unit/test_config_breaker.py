"""`plugins.<p>.circuit_breaker` and `service.breaker_transitions_retention` (pipelines.md §8):
defaults, Ductile's ≤0 rule, and one clear problem per bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from ductile.config import ConfigError, load_config
from ductile.config_check import check_config


def write(directory: Path, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.yaml").write_text(text)
    return directory


def test_defaults_and_values(tmp_path):
    loaded = load_config(
        write(
            tmp_path,
            "service:\n  breaker_transitions_retention: 7d\nplugins:\n  a:\n  b:\n"
            "    circuit_breaker: {threshold: 2, reset_after: 3s}\n  c:\n    circuit_breaker: {threshold: 0}\n"
            "  d:\n    circuit_breaker: {threshold: -5, reset_after: 1h}\n",
        ),
        env={},
    )
    cfg = loaded.config
    assert cfg.service.breaker_transitions_retention == 7 * 86400.0
    breakers = {name: (p.circuit_breaker.threshold, p.circuit_breaker.reset_after) for name, p in cfg.plugins.items()}
    assert breakers == {"a": (3, 1800.0), "b": (2, 3.0), "c": (3, 1800.0), "d": (3, 3600.0)}


def test_default_retention_is_ninety_days(tmp_path):
    loaded = load_config(write(tmp_path, "plugins:\n  a:\n"), env={})
    assert loaded.config.service.breaker_transitions_retention == 90 * 86400.0


@pytest.mark.parametrize(
    ("value", "fragments"),
    [
        ("{threshold: many}", ["plugins.a.circuit_breaker.threshold", "whole number", "'many'"]),
        ("{threshold: 1.5}", ["plugins.a.circuit_breaker.threshold", "whole number"]),
        ("{reset_after: soon}", ["plugins.a.circuit_breaker.reset_after"]),
        ("{reset_after: 0s}", ["plugins.a.circuit_breaker.reset_after"]),
        ("{treshold: 2}", ["plugins.a.circuit_breaker.treshold"]),
    ],
)
def test_bad_values_are_config_errors_naming_the_key(tmp_path, value, fragments):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, f"plugins:\n  a:\n    circuit_breaker: {value}\n"), env={})
    text = "\n".join(info.value.problems)
    for fragment in fragments:
        assert fragment in text, text


def test_circuit_breaker_is_no_longer_a_not_yet_honoured_warning(tmp_path):
    directory = write(
        tmp_path,
        "service:\n  breaker_transitions_retention: 90d\nplugins:\n  a:\n    circuit_breaker: {threshold: 5, reset_after: 30m}\n",
    )
    report = check_config(str(directory))
    assert not [w for w in report.warnings if "breaker" in w], report.warnings
