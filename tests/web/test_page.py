"""The page at /app in a real browser (Debian's chromium, driven by Playwright) against the real
server with the offline provider; and what the server sends with it."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from playwright.sync_api import expect

from testing.fake_upstream import Answer
from tests.real_server import PROJECT_DIR, call, serve
from web.page import CONTENT_SECURITY_POLICY

PROMPT = "a lighthouse at dusk, waves breaking"
# ARTPROXY_SCREENSHOT_DIR=docs refreshes the README's screenshot; otherwise it goes to tmp.
SCREENSHOT_DIR = os.environ.get("ARTPROXY_SCREENSHOT_DIR")


class Visit:
    """One browser tab on artproxy, recording every console error and every request."""

    def __init__(self, browser, base_url: str, width: int = 1024, scheme: str = "light"):
        self.base_url = base_url
        self.context = browser.new_context(viewport={"width": width, "height": 900},
                                           color_scheme=scheme,
                                           permissions=["clipboard-read", "clipboard-write"])
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.requests: list = []
        self.page.on("console", lambda message: message.type == "error"
                     and self.errors.append(message.text))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("request", lambda request: self.requests.append(request))
        self.page.goto(base_url + "/app")

    def generate(self, prompt: str = PROMPT) -> None:
        self.page.get_by_label("Prompt").fill(prompt)
        self.page.get_by_role("button", name="Generate").click()

    def gallery(self):
        return self.page.get_by_role("region", name="Your images")

    def other_origins(self) -> list[str]:
        return [request.url for request in self.requests
                if not request.url.startswith(self.base_url + "/")]

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def visit(browser):
    opened: list[Visit] = []

    def open_page(base_url: str, **options) -> Visit:
        opened.append(Visit(browser, base_url, **options))
        return opened[-1]

    yield open_page
    for tab in opened:
        tab.close()


def natural_size(image) -> tuple[int, int]:
    """The loaded picture's own size. (Playwright's wait_for_function evaluates a string, which
    the page's Content-Security-Policy rightly refuses; evaluate() is not affected.)"""
    give_up = time.monotonic() + 10
    while not image.evaluate("image => image.complete && image.naturalWidth > 0"):
        assert time.monotonic() < give_up, "the picture did not load"
        time.sleep(0.05)
    return tuple(image.evaluate("image => [image.naturalWidth, image.naturalHeight]"))


def seconds_left(text: str) -> int:
    minutes, seconds = text.split(":")
    return int(minutes) * 60 + int(seconds)


def test_make_watch_keep_and_delete_a_picture(visit, image_dir, processes):
    base_url = serve(processes, image_dir, ARTPROXY_OFFLINE_DELAY="1.5")
    tab = visit(base_url)
    page = tab.page
    page.get_by_label("Style").select_option("watercolor")
    page.get_by_label("16:9").check()
    tab.generate()
    progress = page.locator("#progress-text")
    progress.wait_for()
    assert "queue" in progress.inner_text() or "Drawing" in progress.inner_text()
    expect(progress).to_contain_text("Drawing")

    picture = page.get_by_role("region", name="Your picture").get_by_role("img", name=PROMPT)
    picture.wait_for(timeout=20_000)
    assert natural_size(picture) == (1024, 576)
    countdown = page.locator("#result-countdown")
    first = seconds_left(countdown.inner_text())
    assert 100 < first <= 120
    page.wait_for_timeout(2100)
    assert seconds_left(countdown.inner_text()) < first  # it ticks

    page.reload()
    kept = tab.gallery().get_by_role("img", name=PROMPT)
    assert kept.count() == 1 and natural_size(kept) == (1024, 576)
    url = kept.get_attribute("src")
    assert call("GET", base_url + url)[0] == 200

    tab.gallery().get_by_role("button", name="Show").click()
    # The prompt URL with the seed the page chose: it draws this very picture again, as long
    # after the stored one is gone as anyone asks.
    page.get_by_role("button", name="Copy image URL").click()
    expect(page.locator("#copied")).to_have_text("Image URL copied.")
    prompt_url = page.evaluate("navigator.clipboard.readText()")
    seed = parse_qs(urlsplit(prompt_url).query)["seed"][0]
    assert prompt_url == (f"{base_url}/prompt/{quote(PROMPT, safe='')}"
                          f"?aspect=16%3A9&style=watercolor&seed={seed}")
    assert call("GET", prompt_url)[2] == call("GET", base_url + url)[2]
    page.get_by_role("button", name="Copy embed code").click()
    expect(page.locator("#copied")).to_have_text("Embed code copied.")
    embed = page.evaluate("navigator.clipboard.readText()")
    assert embed == f'<img src="{prompt_url}" alt="{PROMPT}" width="1024" height="576">'
    page.get_by_role("button", name="Copy link").click()
    expect(page.locator("#copied")).to_have_text("Link copied.")
    assert page.evaluate("navigator.clipboard.readText()") == base_url + url
    assert page.get_by_role("link", name="Download").get_attribute("href") == url
    page.get_by_role("button", name="Delete", exact=True).click()
    expect(tab.gallery().get_by_role("img")).to_have_count(0)
    assert call("GET", base_url + url)[0] == 404
    page.reload()
    assert tab.gallery().get_by_role("img").count() == 0
    assert tab.errors == []
    assert tab.other_origins() == []


def test_enter_submits_and_the_keyboard_reaches_every_control(visit, image_dir, processes):
    base_url = serve(processes, image_dir)
    tab = visit(base_url)
    page = tab.page
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "prompt"
    page.keyboard.type("first line")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("second line")
    assert page.get_by_label("Prompt").input_value() == "first line\nsecond line"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"  # focus is visible
    reached = set()
    for _ in range(30):
        page.keyboard.press("Tab")
        reached.add(page.evaluate("document.activeElement.id || document.activeElement.value"))
    assert {"style", "format", "transparent", "seed", "roll", "generate"} <= reached
    page.get_by_label("Prompt").focus()
    page.keyboard.press("Enter")
    tab.gallery().get_by_role("img", name="first line\nsecond line").wait_for(timeout=20_000)
    assert tab.errors == []


def test_an_expired_picture_leaves_the_gallery(visit, image_dir, processes):
    base_url = serve(processes, image_dir, ARTPROXY_IMAGE_TTL="5")
    tab = visit(base_url)
    tab.generate()
    pictures = tab.gallery().get_by_role("img", name=PROMPT)
    pictures.wait_for(timeout=20_000)
    started = time.monotonic()
    expect(tab.gallery().get_by_role("img")).to_have_count(0, timeout=10_000)
    assert time.monotonic() - started < 7
    assert tab.page.locator("#result").is_hidden()
    tab.page.reload()
    assert tab.gallery().get_by_role("img").count() == 0
    assert tab.errors == []


def test_an_upstream_failure_is_shown_in_the_alert(visit, image_dir, processes, upstream):
    upstream.default_answer = Answer(status=500, body=b"down")
    base_url = serve(processes, image_dir, ARTPROXY_PROVIDER="magicstudio",
                     ARTPROXY_MAGICSTUDIO_URL=upstream.url)
    tab = visit(base_url)
    tab.generate()
    alert = tab.page.get_by_role("alert")
    alert.wait_for(timeout=20_000)
    assert "image generator" in alert.inner_text()  # the API's own sentence
    assert tab.gallery().get_by_role("img").count() == 0
    assert tab.errors == []  # a failed job is a 200 answer: nothing for the console


def test_a_rate_limit_counts_down_its_retry_after(visit, image_dir, processes):
    base_url = serve(processes, image_dir, ARTPROXY_RATE_LIMIT="1/minute")
    tab = visit(base_url)
    tab.generate()
    tab.gallery().get_by_role("img", name=PROMPT).wait_for(timeout=20_000)
    tab.generate()
    alert = tab.page.get_by_role("alert")
    alert.wait_for()
    first = alert.inner_text()
    assert "Too many requests" in first and "Try again in" in first
    tab.page.wait_for_timeout(2100)
    assert alert.inner_text() != first  # the seconds go down


def test_a_key_is_asked_for_kept_and_sent_only_here(visit, image_dir, processes):
    base_url = serve(processes, image_dir, ARTPROXY_PREMIUM_KEYS="sesame")
    tab = visit(base_url)
    page = tab.page
    assert page.get_by_label("API key").is_hidden()
    tab.generate()
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "API key" in alert.inner_text()
    page.get_by_label("API key").fill("sesame")
    page.get_by_role("button", name="Generate").click()
    tab.gallery().get_by_role("img", name=PROMPT).wait_for(timeout=20_000)
    assert alert.is_hidden()
    page.reload()
    assert page.get_by_label("API key").input_value() == "sesame"
    sent = [request for request in tab.requests if request.headers.get("authorization")]
    assert sent and all(request.url.startswith(base_url + "/") for request in sent)
    assert tab.other_origins() == []
    # The one console error is Chromium's own line for the 401 the page was meant to see.
    assert all("401" in error for error in tab.errors)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_at_360_px_nothing_scrolls_sideways(visit, image_dir, processes, tmp_path, scheme):
    base_url = serve(processes, image_dir)
    tab = visit(base_url, width=360, scheme=scheme)
    page = tab.page
    page.get_by_label("21:9").check()
    tab.generate()
    tab.gallery().get_by_role("img", name=PROMPT).wait_for(timeout=20_000)
    page.wait_for_timeout(300)
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    folder = Path(SCREENSHOT_DIR) if SCREENSHOT_DIR else tmp_path
    folder = folder if folder.is_absolute() else PROJECT_DIR / folder
    folder.mkdir(parents=True, exist_ok=True)
    shot = folder / f"app-360-{scheme}.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    assert tab.errors == []


def test_the_page_and_its_files_are_served_safely(make_app):
    client = make_app().test_client()
    page = client.get("/app")
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert page.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY and "unsafe" not in CONTENT_SECURITY_POLICY
    assert "<script>" not in page.get_data(as_text=True)  # no inline script to allow
    for asset in ("/static/app.js", "/static/app.css", "/static/icon.svg"):
        answer = client.get(asset)
        assert answer.status_code == 200 and answer.headers["ETag"]
        assert answer.headers["Cache-Control"] == "no-cache"  # revalidated, so an upgrade shows at once
        again = client.get(asset, headers={"If-None-Match": answer.headers["ETag"]})
        assert again.status_code == 304
    assert client.get("/static/../config.py").status_code == 404
    assert client.get("/static/nothing.js").get_json()["code"] == "not_found"


def test_options_say_what_a_page_may_offer(make_app):
    client = make_app(PROVIDER=("offline", "pollinations")).test_client()
    options = client.get("/options").get_json()
    assert {"name": "16:9", "width": 1024, "height": 576} in options["aspects"]
    assert options["formats"] == ["png", "webp", "jpeg"]
    assert options["providers"] == ["offline", "pollinations"]
    assert options["keys_required"] is False


@pytest.mark.parametrize("providers, offered", [("offline", None),
                                                ("offline,pollinations", ["offline", "pollinations"])])
def test_provider_is_offered_only_when_there_is_a_choice(visit, image_dir, processes, providers,
                                                        offered):
    base_url = serve(processes, image_dir, ARTPROXY_PROVIDER=providers)
    page = visit(base_url).page
    page.get_by_label("Style").locator("option").nth(1).wait_for(state="attached")  # choices loaded
    provider = page.get_by_label("Provider")
    if offered is None:
        assert provider.is_hidden()
    else:
        expect(provider).to_be_visible()
        values = provider.locator("option").evaluate_all("options => options.map(o => o.value)")
        assert values == ["", *offered]


def test_the_page_starts_whichever_of_its_scripts_arrives_last(browser, image_dir, processes):
    """account.js held back while app.js is running: the page must wait for it, not call into
    a script that has not run yet (a slow second script once left "showAccount is not
    defined" in the alert)."""
    base_url = serve(processes, image_dir)
    context = browser.new_context()
    try:
        held = []
        context.route("**/static/account.js", lambda route: held.append(route))
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(base_url + "/app", wait_until="commit")
        page.wait_for_timeout(500)  # time enough for app.js to ask for and get /options
        assert len(held) == 1
        held[0].continue_()
        page.get_by_label("Style").locator("option").nth(1).wait_for(state="attached")
        expect(page.get_by_role("alert")).to_be_hidden()
        assert errors == []
    finally:
        context.close()


def test_the_docs_page_lists_every_operation(visit, image_dir, processes):
    base_url = serve(processes, image_dir)
    tab = visit(base_url)
    tab.page.goto(base_url + "/docs")
    operations = tab.page.locator("details.operation")
    expect(operations.first).to_be_visible()
    document = json.loads(call("GET", base_url + "/openapi.json")[2])
    count = sum(1 for item in document["paths"].values() for method in item if method != "parameters")
    expect(operations).to_have_count(count)
    operations.filter(has_text="/jobs/{job_id}").click()
    expect(tab.page.get_by_role("cell", name="wait", exact=True)).to_be_visible()
    assert tab.errors == [] and tab.other_origins() == []


def test_the_page_shows_the_place_in_the_hordes_queue(visit, image_dir, processes):
    from testing.fake_horde import FakeHorde, Script

    with FakeHorde() as horde:
        horde.script = Script(checks_before_done=6)  # one check a second: about 6 s
        base_url = serve(processes, image_dir, ARTPROXY_PROVIDER="horde",
                         ARTPROXY_HORDE_URL=horde.url)
        tab = visit(base_url)
        tab.generate()
        progress = tab.page.locator("#progress-text")
        expect(progress).to_contain_text("in the Horde's queue, about", timeout=10_000)
        assert re.match(r"\d+(st|nd|rd|th) in the Horde's queue, about \d+ s… \d+ s",
                        progress.inner_text())
        picture = tab.page.get_by_role("region", name="Your picture").get_by_role("img",
                                                                                  name=PROMPT)
        picture.wait_for(timeout=20_000)
        assert tab.errors == []
