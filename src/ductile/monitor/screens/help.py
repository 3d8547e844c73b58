"""`?`: the key list, generated from the bindings so it cannot drift from them."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS = [
    ("enter", "open the selected job (payload, attempts, logs, stderr)"),
    ("p / c / s", "cycle the plugin / command / status filter"),
    ("x", "clear all filters"),
    ("tab", "switch between the job table and the schedules panel"),
    ("t", "plugin state (secrets redacted)"),
    ("l", "pipelines: last instance, status, duration"),
    ("u", "in a job: open its parent (enter on a child opens it)"),
    ("y / k", "in a job: retry it (a new job, opened) / cancel it"),
    ("r", "refetch everything now"),
    ("P", "schedules panel: pause / resume the selected schedule"),
    ("R", "schedules panel: run the selected schedule now"),
    ("escape", "back"),
    ("?", "this help"),
    ("q", "quit"),
]


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "close")]

    def compose(self) -> ComposeResult:
        lines = "\n".join(f"[b]{key:>10}[/b]  {what}" for key, what in KEYS)
        with Vertical(id="help"):
            yield Static("[b]ductile monitor — keys[/b]\n")
            yield Static(lines, id="help-keys")
