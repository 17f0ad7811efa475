"""Headless Debian Chromium for the browser tests, driven by Playwright's Python package.

One place for what the five browser modules shared: the binary, its flags, the skip on a
developer's machine without a browser (with ``CI`` set it fails instead, so CI cannot pass
by skipping) and the ``browser`` fixture (registered in tests/conftest.py). A module starts
with ``require_browser()``; each test makes its own context (``browser.new_context()`` or
``new_page()``), so no cookie or storage crosses from one test to the next.

The browser is launched once per module, not per session: Playwright's sync API keeps its
event loop marked running for as long as it is started, and every later ``asyncio.run`` in
the worker (most of the suite) would then refuse to start. A launch costs under a second.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def missing() -> list[str]:
    """What the browser tests need and this machine lacks."""
    return [
        what
        for what, present in (
            (f"{CHROMIUM} (apt-get install chromium)", CHROMIUM.is_file()),
            (
                "the playwright package (pip install playwright)",
                importlib.util.find_spec("playwright") is not None,
            ),
        )
        if not present
    ]


def require_browser() -> None:
    """At a browser module's top: skip it without a browser, unless ``CI`` is set (then
    the ``browser`` fixture fails each test)."""
    lacking = missing()
    if lacking and not os.environ.get("CI"):
        pytest.skip(
            "browser test needs " + " and ".join(lacking) + " (CI fails instead of skipping)",
            allow_module_level=True,
        )


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium, launched for the module's tests."""
    lacking = missing()
    if lacking:
        pytest.fail("CI is set, but the browser test needs " + " and ".join(lacking))
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def shot(page: Page, name: str) -> None:
    """A full-page screenshot kept in ``test-artifacts/NAME`` (gitignored) for a person to
    look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)
