"""The header line: gateway health plus the monitor's own connection state."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static

from ductile.monitor.fmt import span

CONNECTION_STYLE = {
    "live": ("● live", "bold green"),
    "polling": ("◐ polling", "bold yellow"),
    "connecting": ("○ connecting", "yellow"),
    "disconnected": ("✖ disconnected", "bold white on red"),
}


class HealthBar(Static):
    """Shows the last health seen even while disconnected, so the operator keeps context."""

    DEFAULT_CSS = "HealthBar { height: 1; padding: 0 1; background: $panel; }"

    def __init__(self, url: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.url = url
        self.health: dict[str, Any] = {}
        self.state = "connecting"
        self.detail = ""

    def set_health(self, health: dict[str, Any]) -> None:
        self.health = health
        self.update(self.render_text())

    def set_state(self, state: str, detail: str = "") -> None:
        self.state, self.detail = state, detail
        self.update(self.render_text())

    def render_text(self) -> Text:
        label, style = CONNECTION_STYLE.get(self.state, (self.state, ""))
        text = Text()
        text.append(f" {label} ", style=style)
        text.append(f" {self.url}")
        h = self.health
        if h:
            text.append(f"  v{h.get('version', '?')}", style="dim")
            text.append(f"  up {span(float(h.get('uptime_seconds', 0)))}")
            text.append(f"  queue {h.get('queue_depth', 0)}", style="bold")
            busy = h.get("workers_busy", h.get("running", 0))
            text.append(f"  workers {busy}/{h.get('max_workers', '?')}")
            text.append(f"  plugins {h.get('plugins_loaded', 0)}")
            if h.get("plugins_circuit_open"):  # scheduled runs skipped until a breaker half-opens
                text.append(f"  circuit open {h['plugins_circuit_open']}", style="bold white on red")
            if h.get("status", "ok") != "ok":  # e.g. degraded: the database cannot be written
                text.append(f"  {str(h['status']).upper()}: {h.get('reason') or ''}", style="bold white on red")
        if self.state == "disconnected" and self.detail:
            text.append(f"  {self.detail}", style="red")
        return text
