"""Hypothesis strategies for JSON values and pipeline paths, shared by the property tests."""

from __future__ import annotations

from hypothesis import strategies as st

scalars = st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8)
keys = st.text(alphabet="abcxyz_", min_size=1, max_size=3)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=6,
)
json_objects = st.dictionaries(keys, json_values, max_size=3)
identifiers = st.from_regex(r"[a-z_][a-z0-9_]{0,4}", fullmatch=True).filter(
    lambda s: s != "ductile" and not s.startswith(("ductile_", "origin_"))
)
