"""Cron fields checked one by one: anything in range is accepted, anything out of range is named."""

from __future__ import annotations

import pytest
from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st

from ductile.cron_fields import FIELDS, CronField, cron_problems

FAST = settings(max_examples=200, deadline=None)


def valid_item(spec: CronField) -> st.SearchStrategy[str]:
    value = st.integers(spec.low, spec.high)
    step = st.integers(1, spec.high)
    name = st.sampled_from(sorted(spec.names)) if spec.names else value.map(str)
    ordered = st.tuples(value, value).map(sorted)
    forms = [
        st.just("*"),
        step.map(lambda n: f"*/{n}"),
        value.map(str),
        name,
        ordered.map(lambda ab: f"{ab[0]}-{ab[1]}"),
        st.tuples(ordered, step).map(lambda t: f"{t[0][0]}-{t[0][1]}/{t[1]}"),
        st.tuples(value, step).map(lambda t: f"{t[0]}/{t[1]}"),
    ]
    if spec.names:  # names are case-insensitive
        forms.append(name.map(str.upper))
    return st.one_of(forms)


def valid_field(spec: CronField) -> st.SearchStrategy[str]:
    return st.lists(valid_item(spec), min_size=1, max_size=3).map(",".join)


valid_expression = st.tuples(*(valid_field(spec) for spec in FIELDS)).map(" ".join)


@FAST
@given(valid_expression)
def test_every_expression_within_the_ranges_is_accepted_and_croniter_agrees(expression):
    assert cron_problems(expression) == []
    assert croniter.is_valid(expression)


@FAST
@given(st.data())
def test_a_value_out_of_range_is_named_with_its_field_and_range(data):
    position = data.draw(st.integers(0, len(FIELDS) - 1))
    spec = FIELDS[position]
    bad = data.draw(
        st.one_of(st.integers(spec.high + 1, 10_000), st.integers(0, spec.low - 1) if spec.low else st.nothing())
    )
    fields = ["*"] * len(FIELDS)
    fields[position] = str(bad)
    assert cron_problems(" ".join(fields)) == [
        f"{spec.name} value '{bad}' is out of range (accepted: {spec.accepted_values})"
    ]


@FAST
@given(st.data())
def test_a_step_beyond_the_field_is_rejected(data):
    position = data.draw(st.integers(0, len(FIELDS) - 1))
    spec = FIELDS[position]
    step = data.draw(st.one_of(st.just(0), st.integers(spec.high + 1, 10_000)))
    fields = ["*"] * len(FIELDS)
    fields[position] = f"*/{step}"
    assert cron_problems(" ".join(fields)) == [
        f"{spec.name} step '{step}' is out of range (accepted: */N with N from 1 to {spec.high})"
    ]


@FAST
@given(st.data())
def test_a_reversed_range_is_rejected(data):
    position = data.draw(st.integers(0, len(FIELDS) - 1))
    spec = FIELDS[position]
    low = data.draw(st.integers(spec.low + 1, spec.high))
    high = data.draw(st.integers(spec.low, low - 1))
    fields = ["*"] * len(FIELDS)
    fields[position] = f"{low}-{high}"
    assert cron_problems(" ".join(fields)) == [
        f"{spec.name} range '{low}-{high}' is reversed (accepted: a-b with a <= b)"
    ]


@pytest.mark.parametrize(
    ("expression", "problems"),
    [
        ("*/61 * * * *", ["minute step '61' is out of range (accepted: */N with N from 1 to 59)"]),
        ("0 24 * * *", ["hour value '24' is out of range (accepted: 0-23)"]),
        ("0 0 0 * *", ["day-of-month value '0' is out of range (accepted: 1-31)"]),
        ("0 0 * 13 *", ["month value '13' is out of range (accepted: 1-12 or jan-dec)"]),
        ("0 0 * foo *", ["month value 'foo' is not understood (accepted: 1-12 or jan-dec)"]),
        ("0 0 * * 8", ["day-of-week value '8' is out of range (accepted: 0-7 or sun-sat, 0 and 7 are Sunday)"]),
        ("0 0 L * *", ["day-of-month value 'L' is not understood (accepted: 1-31)"]),
        ("0 0 * * 5#2", ["day-of-week value '5#2' is not understood (accepted: 0-7 or sun-sat, 0 and 7 are Sunday)"]),
        ("1,,2 * * * *", ["minute field '1,,2' has an empty list entry (accepted: a,b,c)"]),
        ("*/x * * * *", ["minute step 'x' is out of range (accepted: */N with N from 1 to 59)"]),
        (
            "61 25 * * *",  # every problem, not only the first
            ["minute value '61' is out of range (accepted: 0-59)", "hour value '25' is out of range (accepted: 0-23)"],
        ),
        (
            "@hourly",
            ["has 1 field (accepted: 5 fields: minute hour day-of-month month day-of-week, e.g. '*/15 * * * *')"],
        ),
    ],
)
def test_examples(expression, problems):
    assert cron_problems(expression) == problems


@pytest.mark.parametrize("expression", ["0 0 ? * mon-fri", "30 2 * JAN-MAR 0", "0 0 * * 7", "5/10 * * * *"])
def test_accepted_forms(expression):
    assert cron_problems(expression) == []
