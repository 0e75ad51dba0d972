"""Fixtures of the web tests: a real browser (Debian's chromium, driven by Playwright), and a
site on another origin for it to visit."""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

import pytest

from testing.local_server import LocalServer

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# As root in a container, without a screen, and with no network to phone home to.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        # A failure, not a skip: .ci/run installs chromium, and without it the page is untested.
        raise RuntimeError("chromium is not installed; .ci/run installs it")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class BlankSite(LocalServer):
    """A site's empty page, for a browser to run a script on from that site's origin."""

    def answer(self, method: str, path: str, headers: dict[str, str],
               body: bytes) -> tuple[int, dict[str, str], bytes]:
        return 200, {"Content-Type": "text/html"}, b"<!doctype html><title>an app</title>"


@pytest.fixture
def other_site():
    """Start a site on another port (another origin); returns its origin."""
    with contextlib.ExitStack() as sites:

        def start() -> str:
            return f"http://127.0.0.1:{sites.enter_context(BlankSite()).port}"

        yield start


@pytest.fixture
def app_origin(other_site):
    return other_site()
