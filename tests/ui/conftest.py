"""Fixtures for the dashboard's browser tests (tests/ui/test_<page>.py).

- `ui_gateway`: one real gateway per test session (per xdist worker) from `rig.start_ui_gateway`:
  instances `work`, `flaky`, `slow` (1 s timeout), `ticker` (a schedule `tick` every 1 s) and
  `broken` (a schedule `boom` every 2 s whose jobs fail),
  tokens `rig.TOKENS` (admin, viewer, blind, operator). A test needing other config starts its
  own with `rig.start_ui_gateway(tmp_path, plugins=..., pipelines=...)` and the `browser`.
- `browser`: Debian's Chromium through Playwright's Python API, headless, one per test module
  (see the fixture for why); never downloaded.
  Absent Chromium or Playwright skips with the reason, or fails when CI=true.
- `ui_context` / `ui_page`: a fresh browser context (cookies) and page, not signed in.
- `admin_page`: `ui_page` signed in as admin through the real login form.
- `login_as(role)`: a new signed-in page for another role (its own context).
- `phone_page`: a signed-in admin page at 390x844 (phone width).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ui import rig


@pytest.fixture(scope="session")
def ui_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    rig.browser_ready()  # no gateway either when the browser tests cannot run
    gw = rig.start_ui_gateway(tmp_path_factory.mktemp("ui"))
    yield gw
    gw.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Per module, not per session: Playwright's sync API keeps an asyncio loop marked running on
    this thread while it is started, so a pytest-asyncio test run by the same xdist worker while
    a browser is open fails ("Runner.run() cannot be called from a running event loop"). Module
    fixtures are torn down before the worker moves to another module's tests."""
    rig.browser_ready()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=rig.CHROMIUM, args=rig.CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def ui_context(browser: Any, ui_gateway: Any) -> Iterator[Any]:
    context = browser.new_context(base_url=ui_gateway.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)  # a deadline for a loaded 2-core box, not a speed check
    yield context
    context.close()


@pytest.fixture
def ui_page(ui_context: Any) -> Any:
    return ui_context.new_page()


@pytest.fixture
def admin_page(ui_page: Any, ui_gateway: Any) -> Any:
    return rig.login(ui_page, ui_gateway, "admin")


@pytest.fixture
def login_as(browser: Any, ui_gateway: Any) -> Iterator[Callable[..., Any]]:
    with rig.browser_pages(browser, ui_gateway) as make:
        yield make


@pytest.fixture
def phone_page(login_as: Callable[..., Any]) -> Any:
    return login_as("admin", viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
