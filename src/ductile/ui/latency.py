"""The Latency section of `/ui/plugins/{name}`: the stopwatch (`GET /stopwatch/{plugin}`) as a
table, one row per pipeline step, with each step's 60-slice p95 trend drawn as a small SVG.

Why it reads through `api.routers.stopwatch.read_stopwatch` and nothing else: the page must show
the numbers the API gives for the same window (same samples, same arithmetic) and must cost the
gateway what the API costs — off the event loop, under the same limit of two reads at once. A
second query would drift from the API and dodge that limit. The page only adds a deadline
(`PAGE_WAIT`): a person waiting on a 30d read of a busy plugin gets the rest of the page and a
note, not a hung tab; the read itself then finishes in the background, holding its slot.

Scope: the page needs `plugin:catalog:ro`, the stopwatch `jobs:status:ro`. Without the second the
section is one line naming it and the page holds no number of it. Sub-spans (plugin output, the
API shows them only with `jobs:result:ro`) are never read for the page.

The sparkline is drawn server-side (no script): one bar per slice with runs, heights from 0 to
the step's highest slice, so they compare honestly; an empty slice is a gap, not a zero. Its
`<title>`/`aria-label` gives the range, and the per-slice values are in visually hidden text, since
the drawing holds more than the row's three percentiles. Geometry is pure and unit-tested.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from fastapi import Request

from ductile import stopwatch as sw
from ductile.api import params
from ductile.api.routers.stopwatch import max_subs_of, read_stopwatch
from ductile.timeutil import from_text
from ductile.ui.auth import UiSession

SCOPE = "jobs:status:ro"  # the scope of GET /stopwatch/{plugin}
DEFAULT_WINDOW = "24h"  # the page's default (the API's is 1h): a day says more at a glance
PAGE_WAIT = 10.0  # seconds the page waits for the read (a slot, then the read) before a note
DIRECT = "direct (API, schedule, CLI)"
WORDS = {"5m": "5 min", "1h": "1 h", "24h": "24 h", "7d": "7 days", "30d": "30 days"}

SPARK_WIDTH = 120.0  # viewBox units: 2 per slice
SPARK_HEIGHT = 24.0
SLOT = SPARK_WIDTH / sw.BUCKETS
BAR_WIDTH = 1.6
MIN_BAR = 1.5  # a slice with runs is always visible, however small next to the highest


@dataclass(frozen=True)
class Bar:
    """One slice with runs, in viewBox units (y grows downwards; bars stand on the bottom)."""

    index: int
    value: int
    x: float
    y: float
    height: float
    width: float = BAR_WIDTH


@dataclass(frozen=True)
class Spark:
    """A step's trend drawing: bars for the slices with runs, and its words."""

    bars: list[Bar]
    low: int  # lowest p95 among slices with runs (0 when none)
    high: int
    label: str
    width: float = SPARK_WIDTH
    height: float = SPARK_HEIGHT


def sparkline(trend: Sequence[int], window: str) -> Spark:
    """Bars for the slices of `trend` above 0 (the API's 0 means "no runs in that slice"), scaled
    so the highest slice fills the height; the label says what the drawing shows, in numbers."""
    filled = [(i, v) for i, v in enumerate(trend) if v > 0]
    high = max((v for _, v in filled), default=0)
    low = min((v for _, v in filled), default=0)
    bars = []
    for index, value in filled:
        height = round(max(MIN_BAR, value / high * SPARK_HEIGHT), 2)
        x = round(index * SLOT + (SLOT - BAR_WIDTH) / 2, 2)
        bars.append(Bar(index=index, value=value, x=x, y=round(SPARK_HEIGHT - height, 2), height=height))
    where = f"p95 per slice over the last {WORDS.get(window, window)}, {len(trend)} slices, oldest left"
    if not filled:
        label = f"{where}: no slice above 0 ms"
    elif low == high:
        label = f"{where}: {len(filled)} with runs, all {high} ms"
    else:
        label = f"{where}: {len(filled)} with runs, from {low} ms to {high} ms"
    return Spark(bars=bars, low=low, high=high, label=label)


def slice_starts(captured_at: datetime, window: str, count: int = sw.BUCKETS) -> list[datetime]:
    """When each slice of the window ending at `captured_at` begins (the API's bucket rule)."""
    length = sw.WINDOWS[window]
    since = captured_at - length
    return [since + length * i / count for i in range(count)]


def slice_text(trend: Sequence[int], captured_at: datetime, window: str) -> str:
    """The drawing in words for screen readers: each slice with runs, its start (UTC) and p95."""
    fmt = "%H:%M:%S" if sw.WINDOWS[window] < timedelta(hours=24) else "%m-%d %H:%M"
    starts = slice_starts(captured_at, window, len(trend))
    parts = [f"{starts[i].strftime(fmt)} {v} ms" for i, v in enumerate(trend) if v > 0]
    return "p95 by slice start (UTC): " + ("; ".join(parts) if parts else "none above 0 ms")


def window_links(name: str, chosen: str) -> list[dict[str, Any]]:
    """The window switcher: plain links (no script), the chosen one marked `aria-current`."""
    base = f"/ui/plugins/{quote(name, safe='')}"
    return [
        {"name": w, "words": WORDS[w], "url": f"{base}?window={w}#latency", "current": w == chosen} for w in sw.WINDOWS
    ]


def step_rows(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The API's steps, each with its label, drawing and words (direct runs first: `""` sorts first)."""
    captured = from_text(body["captured_at"])
    rows = []
    for step in body["steps"]:
        trend = step["trend_p95_ms"]
        rows.append(
            {
                **step,
                "label": step["step"] or DIRECT,
                "direct": step["step"] == "",
                "spark": sparkline(trend, body["window"]),
                "slices": slice_text(trend, captured, body["window"]),
            }
        )
    return rows


async def latency_section(request: Request, session: UiSession, name: str) -> dict[str, Any]:
    """The section's context. A bad `window` is the API's own message with status 400, as the
    Jobs page does with a bad filter (`error`); it is checked for every token, since it is the
    URL that is wrong, and the rest of the page still renders."""
    out: dict[str, Any] = {
        "scope": SCOPE,
        "allowed": session.allows(SCOPE),
        "error": None,
        "window": DEFAULT_WINDOW,
        "words": WORDS[DEFAULT_WINDOW],
        "links": window_links(name, DEFAULT_WINDOW),
        "slow": False,
        "wait": int(PAGE_WAIT),
        "body": None,
        "rows": [],
    }
    try:
        value = params.one(request.query_params, "window")
        window, _ = sw.window_of(DEFAULT_WINDOW if value is None else value)
    except (ValueError, params.BadParam) as exc:
        out["error"] = str(exc)
        out["links"] = window_links(name, "")  # none is the current one: the URL named none
        return out
    out.update(window=window, words=WORDS[window], links=window_links(name, window))
    if not out["allowed"]:
        return out
    gw = request.app.state.gateway
    body = await read_stopwatch(request.app.state, gw.store, name, window, False, max_subs_of(gw, name), wait=PAGE_WAIT)
    if body is None:
        out["slow"] = True
        return out
    out["body"] = body
    out["rows"] = step_rows(body)
    return out
