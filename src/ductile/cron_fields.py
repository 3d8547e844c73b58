"""Five-field cron expressions checked field by field, so a typo is named precisely.

croniter alone accepts `*/61` in the minute field or a backwards range `30-10` and then fires at
times nobody meant; a schedule is only trusted when every field is within its range.
"""

from __future__ import annotations

from dataclasses import dataclass

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


@dataclass(frozen=True)
class CronField:
    name: str
    low: int
    high: int
    names: dict[str, int]
    question_mark: bool = False  # `?` ("no specific value") is accepted for the two day fields

    @property
    def accepted_values(self) -> str:
        text = f"{self.low}-{self.high}"
        if self.names:
            first, last = next(iter(self.names)), list(self.names)[-1]
            text += f" or {first}-{last}"
        if self.name == "day-of-week":
            text += ", 0 and 7 are Sunday"
        return text


FIELDS = (
    CronField("minute", 0, 59, {}),
    CronField("hour", 0, 23, {}),
    CronField("day-of-month", 1, 31, {}, question_mark=True),
    CronField("month", 1, 12, {name: i + 1 for i, name in enumerate(_MONTHS)}),
    CronField("day-of-week", 0, 7, {name: i for i, name in enumerate(_DAYS)}, question_mark=True),
)
FIELD_NAMES = " ".join(f.name for f in FIELDS)


def _value(text: str, spec: CronField, problems: list[str]) -> int | None:
    if text.isdigit():
        number = int(text)
        if spec.low <= number <= spec.high:
            return number
        problems.append(f"{spec.name} value {text!r} is out of range (accepted: {spec.accepted_values})")
        return None
    named = spec.names.get(text.lower())
    if named is not None:
        return named
    problems.append(f"{spec.name} value {text!r} is not understood (accepted: {spec.accepted_values})")
    return None


def _item(text: str, spec: CronField, problems: list[str]) -> None:
    base, slash, step = text.partition("/")
    if slash and not (step.isdigit() and 1 <= int(step) <= spec.high):
        problems.append(f"{spec.name} step {step!r} is out of range (accepted: */N with N from 1 to {spec.high})")
    if base == "*" or (base == "?" and spec.question_mark and not slash):
        return
    low_text, dash, high_text = base.partition("-")
    if not dash:
        _value(base, spec, problems)
        return
    low, high = _value(low_text, spec, problems), _value(high_text, spec, problems)
    if low is not None and high is not None and low > high:
        problems.append(f"{spec.name} range {base!r} is reversed (accepted: a-b with a <= b)")


def field_problems(text: str, spec: CronField) -> list[str]:
    """What is wrong with one field (`*`, `N`, `a-b`, any of those with `/step`, comma lists)."""
    problems: list[str] = []
    for item in text.split(","):
        if not item:
            problems.append(f"{spec.name} field {text!r} has an empty list entry (accepted: a,b,c)")
            continue
        _item(item, spec, problems)
    return problems


def cron_problems(expression: str) -> list[str]:
    """Every problem in a cron expression, each naming the field, the bad value and the accepted range."""
    fields = expression.split()
    if len(fields) != len(FIELDS):
        plural = "" if len(fields) == 1 else "s"
        return [f"has {len(fields)} field{plural} (accepted: 5 fields: {FIELD_NAMES}, e.g. '*/15 * * * *')"]
    problems: list[str] = []
    for text, spec in zip(fields, FIELDS, strict=True):
        problems.extend(field_problems(text, spec))
    return problems
