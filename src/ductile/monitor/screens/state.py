"""Plugin state as the gateway holds it, secrets redacted.

The gateway redacts before sending; the screen applies the same rule again (it is idempotent), so
a gateway that predates the rule cannot make the monitor display a credential."""

from __future__ import annotations

import json

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from ductile.monitor.client import ApiRefused, ApiUnavailable
from ductile.redact import redact


class PluginStateScreen(Screen[None]):
    BINDINGS = [Binding("escape,q", "app.pop_screen", "back"), Binding("r", "reload", "reload")]

    def compose(self) -> ComposeResult:
        yield Static(Text("plugin state (redacted)", style="bold"), id="state-title")
        yield VerticalScroll(Static("loading…", id="state-body"))
        yield Footer()

    def on_mount(self) -> None:
        self.action_reload()

    @work(exclusive=True, group="state")
    async def action_reload(self) -> None:
        body = self.query_one("#state-body", Static)
        try:
            states = (await self.app.client.plugin_state())["states"]  # type: ignore[attr-defined]
        except (ApiRefused, ApiUnavailable) as exc:
            body.update(Text(f"could not load plugin state: {exc}", style="red"))
            return
        text = Text()
        for name, state in states.items():
            text.append(f"{name}\n", style="bold")
            text.append(json.dumps(redact(state), indent=2, sort_keys=True, default=str) + "\n\n")
        body.update(text if states else Text("no plugins", style="dim"))
