"""Fixtures of the web tests: a real browser (Debian's chromium, driven by Playwright), and a
site on another origin for it to visit."""

from __future__ import annotations

import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

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


class Blank(BaseHTTPRequestHandler):
    """A site's empty page, for a browser to run a script on from that site's origin."""

    def do_GET(self) -> None:
        body = b"<!doctype html><title>an app</title>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *arguments) -> None:
        pass


@pytest.fixture
def other_site():
    """Start a site on another port (another origin); returns its origin."""
    sites = []

    def start() -> str:
        site = ThreadingHTTPServer(("127.0.0.1", 0), Blank)
        threading.Thread(target=site.serve_forever, args=(0.05,), daemon=True).start()
        sites.append(site)
        return f"http://127.0.0.1:{site.server_port}"

    yield start
    for site in sites:
        site.shutdown()
        site.server_close()


@pytest.fixture
def app_origin(other_site):
    return other_site()
