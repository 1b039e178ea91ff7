"""Browser fixtures: real headless Chromium (Debian's, driven by Playwright) against a full stack —
the web app on a free port, real RQ workers in subprocesses, the loopback fake Twilio — with a
seeded coordinator, and a page at phone size and at desktop size (tests run on both).

Chromium missing is a skip on a developer's machine and a failure in CI (`CI` set, as `.ci/run`
does), so the browser tests can never silently stop running there.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import Stack
from tests.web.test_console_auth import EMAIL, PASSWORD, add_coordinator

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Root in a container: no user namespaces for the sandbox, no GPU, a small /dev/shm.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
# Where the README's screenshots go (`make screenshots` sets docs/screenshots); others stay in the
# test run's own folder.
SCREENSHOTS_DIR = os.environ.get("SCREENSHOTS_DIR")


@dataclass(frozen=True)
class Viewport:
    name: str
    width: int
    height: int
    mobile: bool
    scale: int

    def context_options(self) -> dict[str, Any]:
        return {"viewport": {"width": self.width, "height": self.height}, "is_mobile": self.mobile,
                "has_touch": self.mobile, "device_scale_factor": self.scale}


PHONE = Viewport("phone", 390, 844, mobile=True, scale=2)
DESKTOP = Viewport("desktop", 1280, 800, mobile=False, scale=1)
VIEWPORTS = [PHONE, DESKTOP]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not os.access(CHROMIUM, os.X_OK):
        message = (f"browser tests need Chromium at {CHROMIUM} (Debian: apt-get install -y chromium; "
                   "or set CHROMIUM to its path)")
        if os.environ.get("CI"):
            pytest.fail(message + " — CI must run them, not skip them", pytrace=False)
        pytest.skip(message)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - the test extra installs it
        pytest.fail("browser tests need Playwright for Python: pip install -e '.[test]'", pytrace=False)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """The whole system on loopback, with one worker (the alert paths are real, not simulated).
    Layers wait ten minutes, so nothing escalates on its own while a test looks at a page."""
    s = Stack(tmp_path, wait=600, verify_wait=600)
    s.start_worker()
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def coordinator(stack: Stack) -> int:
    """A coordinator who can sign in with tests.web.test_console_auth's EMAIL and PASSWORD."""
    return add_coordinator(stack.svc)


@pytest.fixture(params=VIEWPORTS, ids=lambda v: v.name)
def viewport(request: pytest.FixtureRequest) -> Viewport:
    return request.param


@pytest.fixture
def page(browser: Any, viewport: Viewport, stack: Stack) -> Iterator[Any]:
    """A fresh browser tab (own cookies) at the viewport's size, pointed at the stack."""
    context = browser.new_context(base_url=stack.url, **viewport.context_options())
    context.set_default_timeout(20_000)
    tab = context.new_page()
    # A page that fails a script or breaks the CSP must fail its test, not pass quietly.
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" and not _status_only(m) else None)
    try:
        yield tab
    finally:
        context.close()
    assert not errors, f"the browser reported errors: {errors}"


def _status_only(message: Any) -> bool:
    # Chromium logs every 4xx answer (a 401 for a wrong password, the favicon's 404) as a console
    # error; tests check statuses themselves. Script errors and CSP refusals still count.
    return str(message.text).startswith("Failed to load resource")


def sign_in(page: Any, email: str = EMAIL, password: str = PASSWORD) -> None:
    """Sign in through the real form, as a coordinator would."""
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/incidents")


@pytest.fixture
def signed_in(page: Any, coordinator: int) -> Any:
    """The page, signed in as the seeded coordinator, on the incident board."""
    sign_in(page)
    return page


@pytest.fixture
def screenshot(viewport: Viewport, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """shoot(page, "board") writes board-phone.png / board-desktop.png (the full page, unless
    full_page=False: what the screen shows) into the test
    run's screenshots folder and returns the path; with docs=True it goes to SCREENSHOTS_DIR when
    that is set (`make screenshots`: docs/screenshots, the pictures the README shows)."""
    run_folder = tmp_path_factory.getbasetemp() / "screenshots"

    def shoot(page: Any, name: str, *, docs: bool = False, full_page: bool = True) -> Path:
        folder = Path(SCREENSHOTS_DIR) if docs and SCREENSHOTS_DIR else run_folder
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}-{viewport.name}.png"
        page.screenshot(path=str(path), full_page=full_page, animations="disabled", caret="hide")
        return path

    return shoot
