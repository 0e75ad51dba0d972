"""Signing in from /app, clicked through in a real browser (Debian's chromium) against the real
server and a real OpenID provider (npm oidc-provider): the provider's login and consent
screens, back to the page signed in, a picture that spends a credit and shows in the history,
a key made and revoked, and signing out."""

from __future__ import annotations

import os
from pathlib import Path

from playwright.sync_api import expect

from testing import free_port
from tests.accounts.openid_provider import OpenIDProvider
from tests.real_server import PROJECT_DIR, serve
from tests.web.test_page import PROMPT, Visit

SCREENSHOT_DIR = os.environ.get("ARTPROXY_SCREENSHOT_DIR")


def test_signing_in_from_the_page_and_using_the_account(browser, processes, image_dir,
                                                         tmp_path):
    port = free_port()
    with OpenIDProvider([f"http://127.0.0.1:{port}/auth/test/callback"]) as provider:
        base_url = serve(processes, image_dir, port=port, ARTPROXY_SIGNIN_PROVIDERS="test",
                         ARTPROXY_OFFLINE_DELAY="0.3", **provider.settings("test"))
        tab = Visit(browser, base_url)
        try:
            page = tab.page
            account = page.get_by_role("region", name="Your account")
            account.get_by_role("link", name="Sign in with Test").click()
            # The provider's own screens: any login, then consent.
            page.locator("input[name=login]").fill("ada")
            page.locator("input[name=password]").fill("anything")
            page.locator("button[type=submit]").click()
            page.locator("button[type=submit]").click()
            page.wait_for_url(f"{base_url}/app")
            # From here on only artproxy's page counts (the provider's own screens ask the
            # internet for a stylesheet, which fails here).
            tab.errors.clear()
            tab.requests.clear()
            expect(account.get_by_text("Signed in as Person ada with Test")).to_be_visible()
            expect(page.locator("#credits-available")).to_have_text("50")
            referral = page.get_by_label("Your referral link").input_value()
            assert referral.startswith(f"{base_url}/app?ref=")

            tab.generate()
            expect(page.get_by_role("region", name="Your picture")).to_be_visible(timeout=20_000)
            expect(page.locator("#credits-available")).to_have_text("49")
            history = page.locator("#history-list li")
            expect(history).to_have_count(1)
            expect(history.first).to_contain_text(PROMPT)
            expect(history.first.locator("img")).to_be_visible()

            page.get_by_label("Label of a new key").fill("my script")
            page.get_by_role("button", name="Create key").click()
            new_key = page.get_by_label("Your new key: copy it now, it is not shown again")
            expect(new_key).to_be_visible()
            assert new_key.input_value().startswith("apk_")
            keys = page.locator("#key-list li")
            expect(keys).to_have_count(1)
            expect(keys.first).to_contain_text("my script")
            folder = Path(SCREENSHOT_DIR) if SCREENSHOT_DIR else tmp_path
            folder = folder if folder.is_absolute() else PROJECT_DIR / folder
            folder.mkdir(parents=True, exist_ok=True)
            account.screenshot(path=str(folder / "app-account.png"))
            assert (folder / "app-account.png").stat().st_size > 10_000
            page.get_by_role("button", name="Revoke key my script").click()
            expect(keys).to_have_count(0)

            page.get_by_role("button", name="Sign out").click()
            expect(account.get_by_role("link", name="Sign in with Test")).to_be_visible()
            # Chromium logs each 401 of GET /account (signed out: before and after) as an
            # error; nothing else may be one.
            assert [error for error in tab.errors if "401 (UNAUTHORIZED)" not in error] == []
            assert tab.other_origins() == []
        finally:
            tab.close()
