"""Shorten an API answer to a byte budget, saying exactly what was shortened.

An agent's context is the scarce resource: one job with a megabyte of stderr must not flood it.
The answer is kept whole when it fits; otherwise long strings and long lists are cut in steps
(each step tighter) until the JSON fits, every cut says so in place (`…[truncated: N chars]`,
`…[N more items]`), and the top level gains `result_truncated: true`, the original size in
`result_bytes` and the cut fields in `truncated_fields`. Pure: no I/O, no clock.
"""

from __future__ import annotations

import json
from typing import Any

# (longest string kept, longest list kept), loosest first.
STEPS: tuple[tuple[int, int], ...] = ((4000, 100), (1000, 50), (400, 20), (160, 10), (80, 5), (40, 3), (16, 1))
MAX_PATHS = 20
DEFAULT_BUDGET = 16_000


def size(value: Any) -> int:
    """Bytes of the compact JSON form (what a client puts in the context)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return len(text.encode("utf-8", "surrogatepass"))  # a lone surrogate still has a size


def _shrink(value: Any, text_limit: int, list_limit: int, path: str, cut: list[str]) -> Any:
    if isinstance(value, str):
        if len(value) > text_limit:
            cut.append(path)
            return f"{value[:text_limit]}…[truncated: {len(value)} chars]"
        return value
    if isinstance(value, dict):
        return {k: _shrink(v, text_limit, list_limit, f"{path}.{k}", cut) for k, v in value.items()}
    if isinstance(value, list):
        kept = [_shrink(v, text_limit, list_limit, f"{path}[{i}]", cut) for i, v in enumerate(value[:list_limit])]
        if len(value) > list_limit:
            cut.append(path)
            kept.append(f"…[{len(value) - list_limit} more items]")
        return kept
    return value


def _marked(shrunk: dict[str, Any], full: int, cut: list[str]) -> dict[str, Any]:
    out = {**shrunk, "result_truncated": True, "result_bytes": full, "truncated_fields": cut[:MAX_PATHS]}
    if len(cut) > MAX_PATHS:
        out["truncated_field_count"] = len(cut)
    return out


def compact(value: Any, budget: int = DEFAULT_BUDGET, wrap: str = "result") -> dict[str, Any]:
    """`value` as a JSON object no larger than `budget` bytes (a non-object goes under `wrap`)."""
    whole = value if isinstance(value, dict) else {wrap: value}
    full = size(whole)
    if full <= budget:
        return whole
    for text_limit, list_limit in STEPS:
        cut: list[str] = []
        out = _marked(_shrink(whole, text_limit, list_limit, "$", cut), full, cut)
        if size(out) <= budget:
            return out
    # Too many keys even at the tightest step: hand back the start of the JSON text instead.
    text = json.dumps(whole, ensure_ascii=False, separators=(",", ":"), default=str)
    keep = max(0, budget - 200)
    while keep and size(text[:keep]) > budget - 150:
        keep = keep * 3 // 4
    return {"result_text": text[:keep] + "…", "result_truncated": True, "result_bytes": full, "truncated_fields": ["$"]}
