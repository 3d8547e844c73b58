"""The pure reload diff (ductile.reload_diff) and the running-value merge (ductile.reload.keep_running)."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ductile.config import Config
from ductile.reload import keep_running
from ductile.reload_diff import REFUSED, RESTART_ONLY, compare, diff, flatten, refusal, snapshot, summary

# A machine shared by many test runs: input generation may be slow, never wrong.
relaxed = settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
names = st.text(alphabet="abcdefghij_", min_size=1, max_size=6)
values = st.one_of(st.integers(-3, 3), st.text(alphabet="xyz", max_size=4), st.booleans(), st.none())
flat_maps = st.dictionaries(names, values, max_size=8)


@relaxed
@given(flat_maps, flat_maps)
def test_compare_partitions_the_names(old: dict[str, Any], new: dict[str, Any]) -> None:
    change = compare(old, new)
    assert set(change.added) == new.keys() - old.keys()
    assert set(change.removed) == old.keys() - new.keys()
    assert set(change.changed) == {k for k in old.keys() & new.keys() if old[k] != new[k]}
    for part in (change.added, change.changed, change.removed):
        assert list(part) == sorted(part)
    assert compare(new, new).empty and compare(old, new).empty == (old == new)


schedule = st.fixed_dictionaries(
    {"id": names, "command": st.sampled_from(["poll", "sync"]), "every": st.sampled_from(["1m", "1h", "2h"])}
)
instance = st.fixed_dictionaries(
    {
        "enabled": st.booleans(),
        "uses": st.sampled_from(["echo", "other"]),
        "config": st.dictionaries(names, values, max_size=3),
        "schedules": st.lists(schedule, max_size=3, unique_by=lambda s: s["id"]),
    }
)
token = st.fixed_dictionaries(
    {"name": names, "token": st.text(alphabet="0123456789abcdef", min_size=8, max_size=20), "scopes": st.just(["*"])}
)
configs = st.fixed_dictionaries(
    {
        "service": st.fixed_dictionaries({"max_workers": st.integers(1, 8), "dedupe_ttl": st.integers(1, 9)}),
        "database": st.just({"path": "./data/ductile.db"}),
        "plugin_roots": st.just(["./plugins"]),
        "plugins": st.dictionaries(names, instance, max_size=5),
        "api": st.fixed_dictionaries(
            {
                "listen": st.just("127.0.0.1:8080"),
                "auth": st.fixed_dictionaries({"tokens": st.lists(token, max_size=3)}),
            }
        ),
        "webhooks": st.just({"listen": "127.0.0.1:8091", "endpoints": []}),
    }
)
pipelines = st.lists(
    st.fixed_dictionaries({"name": names, True: st.sampled_from(["a.b", "c.d"]), "steps": st.just([{"uses": "x"}])}),
    max_size=4,
    unique_by=lambda p: p["name"],
)


@relaxed
@given(configs, pipelines)
def test_a_config_compared_with_itself_is_unchanged(config: dict[str, Any], defs: list[Any]) -> None:
    plugins = {"echo": {"manifest": {"commands": ["poll"]}}}
    same = diff(snapshot(config, plugins, defs), snapshot(copy.deepcopy(config), plugins, copy.deepcopy(defs)))
    assert same.unchanged and not same.refused and summary(same) == "no changes"


@relaxed
@given(configs, names)
def test_adding_one_instance_is_exactly_one_added_instance(config: dict[str, Any], name: str) -> None:
    new = copy.deepcopy(config)
    new["plugins"][name + "_new"] = {"uses": "echo", "schedules": [{"id": "s", "every": "1h"}]}
    result = diff(snapshot(config, {}, []), snapshot(new, {}, []))
    assert result.sections["instances"].as_dict() == {"added": [name + "_new"], "changed": [], "removed": []}
    assert result.sections["schedules"].added == (f"{name}_new/s",)
    for kind in ("plugins", "pipelines", "webhooks", "tokens", "settings"):
        assert result.sections[kind].empty


@relaxed
@given(configs)
def test_removing_and_changing_instances_and_schedules(config: dict[str, Any]) -> None:
    new = copy.deepcopy(config)
    names_ = sorted(config["plugins"])
    removed, changed = names_[:1], names_[1:2]
    for name in removed:
        del new["plugins"][name]
    for name in changed:
        new["plugins"][name]["config"]["zz"] = "changed"
    result = diff(snapshot(config, {}, []), snapshot(new, {}, []))
    assert result.sections["instances"].removed == tuple(removed)
    assert result.sections["instances"].changed == tuple(changed)
    gone = {
        f"{n}/{s['id']}" for n in removed if config["plugins"][n]["enabled"] for s in config["plugins"][n]["schedules"]
    }
    assert set(result.sections["schedules"].removed) == gone
    assert result.sections["schedules"].changed == ()  # an instance's config is not its schedules


@relaxed
@given(configs, st.text(alphabet="0123456789abcdef", min_size=12, max_size=20))
def test_token_secrets_never_appear_in_the_diff(config: dict[str, Any], secret: str) -> None:
    new = copy.deepcopy(config)
    new["api"]["auth"]["tokens"] = [*new["api"]["auth"]["tokens"], {"name": "fresh", "token": secret, "scopes": ["*"]}]
    for t in new["api"]["auth"]["tokens"][:1]:
        t["token"] = secret + "x"  # an existing token rotated: changed
    old_snap, new_snap = snapshot(config, {}, []), snapshot(new, {}, [])
    result = diff(old_snap, new_snap)
    assert "fresh" in result.sections["tokens"].added or "fresh" in result.sections["tokens"].changed
    text = json.dumps(result.as_dict()) + json.dumps(dict(new_snap.tokens)) + summary(result)
    assert secret not in text


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.sampled_from(RESTART_ONLY + REFUSED + ("service.max_workers", "api.bulk_max", "service.kill_grace")))
def test_each_setting_is_live_needs_restart_or_refused(path: str) -> None:
    old = Config().model_dump(mode="json")
    new = copy.deepcopy(old)
    *parents, leaf = path.split(".")
    node = new
    for part in parents:
        node = node[part]
    node[leaf] = {"changed": True} if isinstance(node.get(leaf), dict) else "something else"
    result = diff(snapshot(old, {}, []), snapshot(new, {}, []))
    settings_changed = result.sections["settings"]
    if path in REFUSED:
        assert result.refused == (path,) and path in refusal(result.refused)[0]
    elif path in RESTART_ONLY:
        assert result.needs_restart == (path,) and settings_changed.empty
    else:
        assert settings_changed.changed == (path,) and not result.needs_restart


def test_webhook_endpoints_on_a_gateway_without_a_listener_need_a_restart() -> None:
    old = Config().model_dump(mode="json")
    new = copy.deepcopy(old)
    new["webhooks"]["endpoints"] = [{"path": "/hook", "plugin": "a"}]
    started = diff(snapshot(old, {}, []), snapshot(new, {}, []))
    assert started.needs_restart == ("webhooks.endpoints",) and started.sections["webhooks"].added == ("/hook",)
    stopped = diff(snapshot(new, {}, []), snapshot(old, {}, []))
    assert stopped.needs_restart == () and stopped.sections["webhooks"].removed == ("/hook",)


def test_pipelines_compare_by_definition_whatever_the_key_order_or_bare_on_key() -> None:
    a = [{"name": "p", True: "x.y", "steps": [{"uses": "q", "id": "s"}]}]
    b = [{"steps": [{"id": "s", "uses": "q"}], "on": "x.y", "name": "p"}]
    assert diff(snapshot({}, {}, a), snapshot({}, {}, b)).unchanged
    c = [{"name": "p", "on": "x.z", "steps": [{"uses": "q", "id": "s"}]}]
    assert diff(snapshot({}, {}, a), snapshot({}, {}, c)).sections["pipelines"].changed == ("p",)


def test_flatten_paths_and_plugin_changes() -> None:
    assert flatten({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": {}}) == {"a.b": "1", "a.c.d": "[1,2]", "e": "{}"}
    old = {"echo": {"manifest": {"commands": ["poll"]}, "directory": "/p/echo"}}
    new = {"echo": {"manifest": {"commands": ["poll", "sync"]}, "directory": "/p/echo"}, "two": {}}
    result = diff(snapshot({}, old, []), snapshot({}, new, []))
    assert result.sections["plugins"].as_dict() == {"added": ["two"], "changed": ["echo"], "removed": []}


def test_keep_running_puts_back_only_the_named_paths() -> None:
    running = Config.model_validate({"api": {"listen": "127.0.0.1:1111", "bulk_max": 5, "metrics": {"enabled": True}}})
    new = Config.model_validate(
        {"api": {"listen": "127.0.0.1:2222", "bulk_max": 9, "metrics": {"enabled": False, "public": True}}}
    )
    kept = keep_running(new, running, ("api.listen", "api.metrics.enabled"))
    assert kept.api.listen == "127.0.0.1:1111" and kept.api.metrics.enabled is True
    assert kept.api.bulk_max == 9 and kept.api.metrics.public is True  # live ones: the new values
    assert new.api.listen == "127.0.0.1:2222"  # the input is not changed
