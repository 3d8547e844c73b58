"""The Plugins page's pure helpers: a schema flattened to readable rows, interval labels."""

from __future__ import annotations

from ductile.ui.pages.plugins import every_label, schema_fields, type_label


def test_schema_fields_flatten_nested_objects_and_array_items() -> None:
    schema = {
        "type": "object",
        "required": ["auth"],
        "properties": {
            "auth": {"type": "object", "required": ["user"], "properties": {"user": {"type": "string"}}},
            "tags": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}}},
            "limit": {"type": ["integer", "null"], "default": 10, "minimum": 1},
        },
    }
    rows = {f.path: f for f in schema_fields(schema)}
    assert list(rows) == ["auth", "auth.user", "tags", "tags[].name", "limit"]
    assert rows["auth"].required and rows["auth.user"].required and not rows["limit"].required
    assert rows["tags"].type == "array of object"
    assert rows["limit"].type == "integer | null"
    assert rows["limit"].notes == "default 10; minimum 1"


def test_schema_defaults_under_secret_keys_are_redacted() -> None:
    rows = schema_fields({"properties": {"api_key": {"type": "string", "default": "sk-live-123"}}})
    assert rows[0].notes == 'default "***"'


def test_schemas_without_properties_give_no_rows() -> None:
    assert schema_fields(None) == []
    assert schema_fields({"type": "string"}) == []
    assert schema_fields({"properties": "nonsense"}) == []


def test_type_labels() -> None:
    assert type_label({}) == "any"
    assert type_label({"enum": ["a"]}) == "enum"
    assert type_label({"oneOf": [{"type": "string"}, {"type": "integer"}]}) == "one of: string, integer"


def test_every_label() -> None:
    assert [every_label(s) for s in (3600.0, 90, 2.0, 0.5, None)] == ["1h", "1m 30s", "2s", "0.5s", ""]
