"""Hypothesis strategies for JSON values and pipeline paths, shared by the property tests."""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
keys = st.text(alphabet="abcxyz_", min_size=1, max_size=3)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=6,
)
json_objects = st.dictionaries(keys, json_values, max_size=3)
# Identifier segments (`[A-Za-z_][A-Za-z0-9_]*`); the alphabet cannot spell the reserved ductile/origin_ names.
identifiers = st.builds(lambda head, tail: head + tail, st.sampled_from("abx_"), st.text(alphabet="ab1_", max_size=3))


def relaxed(max_examples: int = 100) -> settings:
    """Settings for property tests on a shared, loaded machine: no per-example deadline, no too-slow check."""
    return settings(max_examples=max_examples, deadline=None, suppress_health_check=[HealthCheck.too_slow])
