"""Regenerate the dashboard screenshots in docs/ui/ (README and docs/DASHBOARD.md show them).

    make screenshots        # or: .venv/bin/python scripts/ui_screenshots.py

Starts a real gateway like the browser tests' (tests/ui/rig.py: a 1 s schedule, a failing one,
a few jobs of each outcome, a two-step pipeline run), signs in through the login form with Debian's /usr/bin/chromium
(Playwright's Python API, no browser download) and saves each page in `PAGES` at desktop width
(light scheme) and phone width (dark scheme), and the sign-in page. A page added later is one
more line in `PAGES`; a page that answers 404 (not merged yet) is skipped with a printed note.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "tests")]

from ui import rig  # noqa: E402 - the tests' gateway and browser settings

# (file stem, candidate paths, a selector that is present once the page shows what it should).
# The first candidate that does not answer 404 is shot; a page whose every candidate is a 404 (not
# merged into this checkout yet) is skipped with a note, so the script can simply be rerun.
# `{job}` is the id of a failed job.
PAGES = [
    ("overview", ["/ui"], '[data-schedule="ticker/tick"] .strip li[data-state="succeeded"]'),
    ("jobs", ["/ui/jobs?limit=12"], "#jobs-table"),
    ("job-detail", ["/ui/jobs/{job}", "/ui/job/{job}"], "main h1"),
    ("pipelines", ["/ui/pipelines"], "main h1"),
    ("plugins", ["/ui/plugins"], "table.plugins"),
    ("plugin-detail", ["/ui/plugins/work"], "#command-poll"),
]
PIPELINES = [{"name": "nightly", "on": "nightly.go", "steps": [{"uses": "work"}, {"id": "notify", "uses": "flaky"}]}]
SIZES = [
    ("desktop", {"viewport": {"width": 1280, "height": 860}, "color_scheme": "light"}),
    ("phone", {"viewport": {"width": 390, "height": 844}, "color_scheme": "dark", "is_mobile": True}),
]


def main() -> None:
    from playwright.sync_api import sync_playwright

    out = REPO / "docs" / "ui"
    out.mkdir(parents=True, exist_ok=True)
    gw = rig.start_ui_gateway(Path(tempfile.mkdtemp(prefix="ui-shots-")), pipelines=PIPELINES)
    try:
        ids = {str(payload): rig.enqueue(gw, "work", payload=payload) for payload in ({}, {"fail": True}, {"sleep": 3})}
        failed = ids[str({"fail": True})]
        rig.enqueue(gw, "slow", payload={"sleep": 3})  # times out (1 s)
        run = httpx.post(
            f"{gw.url}/pipeline/nightly",
            params={"async": "true"},
            json={"payload": {"night": "today"}},
            headers={"Authorization": f"Bearer {rig.TOKENS['admin'][0]}"},
            timeout=10,
        )
        if run.status_code not in (200, 202):
            print(f"note: POST /pipeline/nightly answered {run.status_code}: {run.text[:200]}")
        time.sleep(15)  # let the strips fill
        skipped: list[str] = []
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=rig.CHROMIUM, args=rig.CHROMIUM_ARGS)
            for size, options in SIZES:
                context = browser.new_context(base_url=gw.url, **options)
                page = context.new_page()
                page.goto("/ui/login")
                page.screenshot(path=str(out / f"login-{size}.png"))
                print(f"docs/ui/login-{size}.png")
                rig.login(page, gw)
                for stem, candidates, ready in PAGES:
                    for candidate in candidates:
                        path = candidate.format(job=failed)
                        response = page.goto(path)
                        if response is not None and response.status != 404:
                            break
                    else:
                        if size == SIZES[0][0]:
                            skipped.append(stem)
                            print(f"note: {stem} skipped, {' and '.join(candidates)} answer 404 (not merged yet?)")
                        continue
                    page.wait_for_selector(ready)
                    target = out / f"{stem}-{size}.png"
                    page.screenshot(path=str(target), full_page=size == "desktop")
                    print(target.relative_to(REPO))
                context.close()
            browser.close()
    finally:
        gw.stop()
    if skipped:
        print(f"skipped (rerun `make screenshots` after merging them): {', '.join(skipped)}")


if __name__ == "__main__":
    main()
