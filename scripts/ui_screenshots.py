"""Regenerate the dashboard screenshots in docs/ui/ (README and docs/DASHBOARD.md show them).

    .venv/bin/python scripts/ui_screenshots.py

Starts a real gateway like the browser tests' (tests/ui/rig.py: a 1 s schedule, a failing one,
a few jobs of each outcome), signs in through the login form with Debian's /usr/bin/chromium
(Playwright's Python API, no browser download) and saves each page in `PAGES` at desktop width
(light scheme) and phone width (dark scheme). A page added later is one more line in `PAGES`.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "tests")]

from ui import rig  # noqa: E402 - the tests' gateway and browser settings

# (file stem, path, a selector that is present once the page shows what it should)
PAGES = [
    ("overview", "/ui", '[data-schedule="ticker/tick"] .strip li[data-state="succeeded"]'),
    ("jobs", "/ui/jobs?limit=12", "#jobs-table"),
]
SIZES = [
    ("desktop", {"viewport": {"width": 1280, "height": 860}, "color_scheme": "light"}),
    ("phone", {"viewport": {"width": 390, "height": 844}, "color_scheme": "dark", "is_mobile": True}),
]


def main() -> None:
    from playwright.sync_api import sync_playwright

    out = REPO / "docs" / "ui"
    out.mkdir(parents=True, exist_ok=True)
    gw = rig.start_ui_gateway(Path(tempfile.mkdtemp(prefix="ui-shots-")))
    try:
        for payload in ({}, {"fail": True}, {"sleep": 3}):
            rig.enqueue(gw, "work", payload=payload)
        rig.enqueue(gw, "slow", payload={"sleep": 3})  # times out (1 s)
        time.sleep(15)  # let the strips fill
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=rig.CHROMIUM, args=rig.CHROMIUM_ARGS)
            for size, options in SIZES:
                context = browser.new_context(base_url=gw.url, **options)
                page = rig.login(context.new_page(), gw)
                for stem, path, ready in PAGES:
                    page.goto(path)
                    page.wait_for_selector(ready)
                    target = out / f"{stem}-{size}.png"
                    page.screenshot(path=str(target), full_page=size == "desktop")
                    print(target.relative_to(REPO))
                context.close()
            browser.close()
    finally:
        gw.stop()


if __name__ == "__main__":
    main()
