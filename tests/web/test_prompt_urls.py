"""Prompt URLs (issue 21): ``GET /prompt/<prompt>`` answers the picture, the same URL the same
bytes while cached, drawn once across the worker processes (and, with Redis, the instances);
only allowed pages may embed it; a hit is free and a miss spends the rate limit."""

from __future__ import annotations

import io
import re
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from PIL import Image

from testing import free_port
from testing.fake_upstream import Answer, png_bytes
from tests.helpers import error_of, fast_path_of
from tests.real_server import COMMANDS, call, environment, get, start, wait_until_serving
from tests.real_server import serve as serve_real
from tests.test_readme import README, README_URL

PROMPT = "a red fox / in the snow"  # the slash travels as %2F
PATH = "/prompt/" + quote(PROMPT, safe="")
APP = "https://app.example"


@pytest.fixture
def upstream_server(upstream, image_dir, processes):
    """The real server, 2 workers, drawing with magicstudio at the fake upstream."""
    upstream.default_answer = Answer(body=png_bytes((64, 48)),
                                     headers={"Content-Type": "image/png"})

    def build(**settings: str) -> str:
        return serve_real(processes, image_dir, workers=2, **{
            "ARTPROXY_PROVIDER": "magicstudio", "ARTPROXY_MAGICSTUDIO_URL": upstream.url,
            **settings})

    return build


def size_of(data: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(data)).size


def workers_of(answers) -> set[str]:
    """Which worker processes answered (a request id starts with its process's tag)."""
    return {headers["X-Request-ID"][:16] for _, headers, _ in answers}


def test_the_same_url_is_one_upstream_call_and_the_same_bytes(upstream_server, upstream):
    base_url = upstream_server()
    status, headers, first = call("GET", f"{base_url}{PATH}?size=128x96")
    assert status == 200, first
    assert headers["Content-Type"] == "image/png" and size_of(first) == (128, 96)
    assert headers["X-Artproxy-Cache"] == "miss"
    cache_control = headers["Cache-Control"]
    assert "public" in cache_control
    assert 110 <= int(cache_control.split("max-age=")[1]) <= 120  # the entry's life: IMAGE_TTL
    assert headers["ETag"] and headers["Last-Modified"]
    for _ in range(4):  # new connections, spread over the workers
        status, again, second = call("GET", f"{base_url}{PATH}?size=128x96")
        assert (status, again["X-Artproxy-Cache"], second) == (200, "hit", first)
        assert again["ETag"] == headers["ETag"]
    assert len(upstream.received) == 1
    status, _, body = call("GET", f"{base_url}{PATH}?size=128x96",
                           {"If-None-Match": headers["ETag"]})
    assert (status, body) == (304, b"")
    # Another option, another seed: other pictures, each drawn once.
    for query in ("size=96x96", "size=128x96&seed=7", "size=128x96&seed=7"):
        assert call("GET", f"{base_url}{PATH}?{query}")[0] == 200
    assert len(upstream.received) == 3
    # The prompt reached the upstream whole, its slash included.
    assert all(request.fields["prompt"] == PROMPT for request in upstream.received)


def test_twenty_identical_requests_at_once_cost_one_upstream_call(upstream_server, upstream):
    upstream.default_answer = Answer(body=png_bytes((64, 48)),
                                     headers={"Content-Type": "image/png"}, delay=1.0)
    base_url = upstream_server()
    answers: list = []
    rounds = 0
    # Rounds of twenty at once until both workers have taken part in one (the second may still
    # be starting): then the lock in the shared counters, not one process, did the merging.
    while rounds == 0 or len(workers_of(answers)) < 2:
        assert rounds < 5, "one worker took every request"
        rounds += 1
        url = f"{base_url}/prompt/round%20{rounds}"
        with ThreadPoolExecutor(max_workers=20) as pool:
            answers = list(pool.map(lambda _: call("GET", url), range(20)))
        assert [status for status, _, _ in answers] == [200] * 20
        assert len({body for _, _, body in answers}) == 1
        assert sorted(headers["X-Artproxy-Cache"] for _, headers, _ in answers) == (
            ["hit"] * 19 + ["miss"])
        assert len(upstream.received) == rounds


def test_requests_that_waited_for_a_failed_drawing_get_its_failure(upstream_server, upstream):
    upstream.default_answer = Answer(status=500, body=b"down", delay=1.0)
    base_url = upstream_server()
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(lambda _: call("GET", base_url + PATH), range(6)))
    assert [status for status, _, _ in answers] == [502] * 6
    assert all(b'"upstream_unreachable"' in body for _, _, body in answers)
    assert len(upstream.received) == 1  # not one call per waiter in turn


def test_an_expired_entry_is_drawn_again_with_the_seed_the_url_had(upstream_server, upstream):
    base_url = upstream_server(ARTPROXY_PROVIDER="pollinations",
                               ARTPROXY_POLLINATIONS_URL=upstream.url,
                               ARTPROXY_PROMPT_CACHE_SECONDS="1")
    status, headers, first = call("GET", f"{base_url}{PATH}")
    assert status == 200 and int(headers["Cache-Control"].split("max-age=")[1]) <= 1
    time.sleep(1.1)  # the entry's second is over
    status, headers, second = call("GET", f"{base_url}{PATH}")
    assert (status, headers["X-Artproxy-Cache"]) == (200, "miss")
    seeds = [parse_qs(urlsplit(request.path).query)["seed"] for request in upstream.received]
    assert len(seeds) == 2 and seeds[0] == seeds[1]  # derived from the URL, so the same
    assert call("GET", f"{base_url}{PATH}?seed=5")[0] == 200
    assert parse_qs(urlsplit(upstream.received[-1].path).query)["seed"] == ["5"]


def test_with_the_offline_provider_an_expired_url_draws_the_same_picture(make_app, clock):
    client = make_app(PROVIDER=("offline",), CLOCK=clock).test_client()
    first = client.get(f"{PATH}?size=96x64")
    clock.now += 121  # past IMAGE_TTL, the entry's default life
    second = client.get(f"{PATH}?size=96x64")
    assert (first.headers["X-Artproxy-Cache"], second.headers["X-Artproxy-Cache"]) == (
        "miss", "miss")
    assert first.data == second.data and size_of(first.data) == (96, 64)
    assert first.headers["ETag"] != second.headers["ETag"]  # another entry


def test_a_hit_below_flask_is_never_a_deleted_picture(client, app, upstream, monkeypatch):
    first = client.get(PATH)
    fast_path = fast_path_of(app)
    flask_app = fast_path.wsgi_app
    monkeypatch.setattr(fast_path, "wsgi_app", lambda *_: pytest.fail("Flask was asked"))
    hit = client.get(PATH)  # this URL is known now: answered below Flask
    assert (hit.headers["X-Artproxy-Cache"], hit.data) == ("hit", first.data)
    assert hit.headers["ETag"] == first.headers["ETag"]
    monkeypatch.setattr(fast_path, "wsgi_app", flask_app)
    store = app.extensions["artproxy"].store
    for record in store.list_images():
        store.delete(record.name)  # as DELETE /admin/images does, on any instance
    again = client.get(PATH)
    assert again.headers["X-Artproxy-Cache"] == "miss" and len(upstream.received) == 2


def test_only_allowed_pages_may_embed_a_prompt_url(upstream_server, upstream):
    base_url = upstream_server(ARTPROXY_EMBED_ORIGINS=APP)
    status, _, body = call("GET", base_url + PATH, {"Referer": "https://elsewhere.example/x"})
    assert status == 403 and b"embed_not_allowed" in body
    assert upstream.received == []  # refused before any drawing
    status, headers, _ = call("GET", base_url + PATH, {"Referer": f"{APP}/gallery"})
    assert status == 200
    assert "Referer" in headers["Vary"]  # so a shared cache never serves it to another page
    status, headers, _ = call("GET", base_url + PATH)  # privacy settings strip the Referer
    assert status == 200 and "Referer" in headers["Vary"]
    status, _, body = call("GET", base_url + PATH, {"Referer": "https://elsewhere.example/x"})
    assert status == 403 and b"embed_not_allowed" in body  # cached now, and still refused
    assert len(upstream.received) == 1
    strict = upstream_server(ARTPROXY_EMBED_ORIGINS=APP, ARTPROXY_EMBED_REQUIRE_REFERER="true")
    status, _, body = call("GET", strict + PATH)
    assert status == 403 and b"embed_not_allowed" in body
    assert call("GET", strict + PATH, {"Referer": f"{APP}/"})[0] == 200


def test_the_rate_limit_counts_misses_only(upstream_server, upstream):
    base_url = upstream_server(ARTPROXY_RATE_LIMIT="2/minute")
    assert call("GET", f"{base_url}/prompt/one")[1]["X-Artproxy-Cache"] == "miss"
    for _ in range(5):
        assert call("GET", f"{base_url}/prompt/one")[0] == 200  # hits are free
    assert call("GET", f"{base_url}/prompt/two")[0] == 200  # the second miss
    status, headers, body = call("GET", f"{base_url}/prompt/three")
    assert status == 429 and b"rate_limited" in body and int(headers["Retry-After"]) >= 1
    assert "public" not in headers.get("Cache-Control", "")
    assert call("GET", f"{base_url}/prompt/one")[0] == 200  # a hit still is
    assert get(f"{base_url}/generate?p=four")[0] == 429  # one budget with /generate
    assert len(upstream.received) == 2


def test_head_never_draws(upstream_server, upstream):
    base_url = upstream_server()
    status, headers, body = call("HEAD", base_url + PATH)
    assert (status, body) == (404, b"")
    assert upstream.received == []
    _, _, picture = call("GET", base_url + PATH)
    status, headers, body = call("HEAD", base_url + PATH)
    assert (status, body, headers["X-Artproxy-Cache"]) == (200, b"", "hit")
    assert int(headers["Content-Length"]) == len(picture)
    assert len(upstream.received) == 1
    # gunicorn hands the path over as it came: broken UTF-8 is refused there too.
    assert call("GET", base_url + "/prompt/%ED%A0%80")[0] == 400


@pytest.mark.parametrize("path, code", [
    ("/prompt/", "invalid_prompt"),
    ("/prompt/%20%20", "invalid_prompt"),
    ("/prompt/" + "x" * 1001, "invalid_prompt"),
    ("/prompt/fox?size=12", "invalid_size"),
    ("/prompt/fox?format=jpeg&transparent=true", "transparent_format"),
    ("/prompt/fox?provider=elsewhere", "unknown_provider"),
    ("/prompt/fox?style=nope", "unknown_style"),
    ("/prompt/%ED%A0%80", "invalid_prompt"),  # a lone surrogate, as UTF-8 would spell it
    ("/prompt/fox%FF", "invalid_prompt"),  # no UTF-8 at all
])
def test_bad_input_is_a_json_400_and_calls_no_upstream(client, upstream, path, code):
    response = client.get(path)
    assert response.status_code == 400 and error_of(response)["code"] == code
    assert response.headers["Cache-Control"] == "no-store"
    assert upstream.received == []


def test_an_upstream_failure_is_its_json_error_and_nothing_is_cached(client, clock, upstream,
                                                                     caplog):
    upstream.will_answer(Answer(status=500, body=b"down"))
    failed = client.get(PATH)
    assert failed.status_code == 502 and error_of(failed)["code"] == "upstream_unreachable"
    assert "GET /prompt/<path:prompt> -> 502" in caplog.text
    assert "fox" not in caplog.text  # the path is the prompt: it stays out of the log
    head = client.head(PATH)
    assert head.status_code == 404 and head.headers["Cache-Control"] == "no-store"
    again = client.get(PATH)  # moments later: the same answer, no second call
    assert again.status_code == 502 and error_of(again)["code"] == "upstream_unreachable"
    assert len(upstream.received) == 1
    clock.now += 6
    assert client.get(PATH).headers["X-Artproxy-Cache"] == "miss"  # drawn afresh


def test_prompt_urls_can_be_turned_off(make_app, upstream):
    client = make_app(PROMPT_URLS=False).test_client()
    response = client.get(PATH)
    assert response.status_code == 404 and response.is_json
    assert upstream.received == []
    assert "/prompt/{prompt}" not in client.get("/openapi.json").get_json()["paths"]
    assert client.get("/healthz").get_json()["prompt_cache"] == "off"


def test_healthz_and_metrics_count_entries_hits_and_misses(upstream_server):
    base_url = upstream_server()
    for _ in range(4):
        assert call("GET", base_url + PATH)[0] == 200
    give_up = time.monotonic() + 10
    expected = {"entries": 1, "hits": 3, "misses": 1}
    while True:  # each worker adds its counts to the shared ones once a second, on its own
        cache = get(base_url + "/healthz")[2]["prompt_cache"]
        if cache == expected or time.monotonic() > give_up:
            break
        time.sleep(0.2)
    assert cache == expected
    metrics = call("GET", base_url + "/metrics")[2].decode()
    assert "artproxy_prompt_cache_entries 1.0" in metrics
    assert "artproxy_prompt_cache_hits_total 3.0" in metrics
    assert "artproxy_prompt_cache_misses_total 1.0" in metrics


def test_two_instances_on_one_redis_share_the_cache(redis_server, upstream, tmp_path, processes):
    upstream.default_answer = Answer(body=png_bytes((64, 48)),
                                     headers={"Content-Type": "image/png"})
    urls = []
    for number in (1, 2):  # each with its own image folder: only Redis is shared
        folder = tmp_path / f"instance{number}"
        folder.mkdir()
        port = free_port()
        process = start(COMMANDS["python main.py"], environment(
            folder, port, WEB_CONCURRENCY="2", ARTPROXY_STORAGE="redis",
            ARTPROXY_REDIS_URL=redis_server.url, ARTPROXY_PROVIDER="magicstudio",
            ARTPROXY_MAGICSTUDIO_URL=upstream.url))
        processes.append(process)
        urls.append(f"http://127.0.0.1:{port}")
        wait_until_serving(urls[-1], process)
    status, headers, first = call("GET", urls[0] + PATH)
    assert (status, headers["X-Artproxy-Cache"]) == (200, "miss")
    status, headers, second = call("GET", urls[1] + PATH)
    assert (status, headers["X-Artproxy-Cache"], second) == (200, "hit", first)
    assert len(upstream.received) == 1
    assert get(urls[1] + "/healthz")[2]["prompt_cache"]["entries"] == 1


LOAD_IMAGE = """async (url) => {
    const image = document.createElement("img");
    document.body.append(image);
    await new Promise((done) => { image.onload = image.onerror = done; image.src = url; });
    return [image.naturalWidth, image.naturalHeight];
}"""


def test_a_browser_shows_the_picture_on_allowed_pages_only(browser, other_site, image_dir,
                                                           processes):
    allowed = other_site()
    # Another site by name, as another company's would be: browsers keep a cache per site.
    foreign = other_site().replace("127.0.0.1", "localhost")
    base_url = serve_real(processes, image_dir, workers=2, ARTPROXY_EMBED_ORIGINS=allowed)
    url = f"{base_url}/prompt/{quote('a lighthouse at dusk', safe='')}?size=160x120&seed=3"
    context = browser.new_context()
    page = context.new_page()
    page.goto(foreign)
    assert page.evaluate(LOAD_IMAGE, url) == [0, 0]  # a broken image
    assert call("HEAD", url)[0] == 404  # and nothing was drawn
    page.goto(allowed)
    assert page.evaluate(LOAD_IMAGE, url) == [160, 120]
    page.goto(foreign)
    assert page.evaluate(LOAD_IMAGE, url) == [0, 0]  # drawn now, and still not for this site
    context.close()


def test_the_readmes_embed_example_works_as_written(browser, other_site, image_dir, processes):
    section = README.split("### Embed with one tag", 1)[1].split("\n### ", 1)[0]
    example = re.search(r"```html\n(.*?)```", section, re.DOTALL).group(1)
    base_url = serve_real(processes, image_dir, workers=2)
    context = browser.new_context()
    page = context.new_page()
    page.goto(other_site())  # a page on another site, as the app's would be
    page.set_content(example.replace(README_URL, base_url))
    picture = page.locator("img")
    page.wait_for_function("document.querySelector('img').complete")
    width, height = picture.evaluate("image => [image.naturalWidth, image.naturalHeight]")
    assert (width, height) == (int(picture.get_attribute("width")),
                               int(picture.get_attribute("height"))) == (1024, 576)
    context.close()
