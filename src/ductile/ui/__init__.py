"""The web dashboard served by the gateway at `/ui` (docs/DASHBOARD.md)."""
