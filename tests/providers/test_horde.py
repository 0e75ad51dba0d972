"""The horde provider against a protocol fake of AI Horde's API v2 (testing/fake_horde.py): the
whole flow, the polling rate, withdrawal at the deadline, faulted and censored results, image
URLs only from allowed hosts, and the Horde's errors as artproxy's."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from errors import (
    BadUpstreamImage,
    UpstreamBusy,
    UpstreamCensored,
    UpstreamFaulted,
    UpstreamRejected,
    UpstreamTimeout,
)
from generator_client import ImageOptions
from providers.horde import ANONYMOUS_KEY, HordeProvider
from testing.fake_horde import FakeHorde, Script
from testing.fake_upstream import FakeUpstream


@pytest.fixture
def horde():
    with FakeHorde() as server:
        yield server


def provider(horde: FakeHorde, **overrides) -> HordeProvider:
    settings = {"url": horde.url, "api_key": ANONYMOUS_KEY, "models": (),
                "contact": "https://example.org/ops", "image_hosts": (".r2.cloudflarestorage.com",),
                "connect_timeout": 2.0, "timeout": 10.0, "max_bytes": 2**22,
                "poll_seconds": 0.05, **overrides}
    return HordeProvider(**settings)


def test_a_picture_goes_through_the_whole_flow(horde):
    picture = provider(horde, models=("Deliberate",)).generate(
        "a red fox", ImageOptions(width=1024, height=576, seed=42))
    request = horde.only_request()
    assert request.headers["apikey"] == ANONYMOUS_KEY
    assert request.headers["Client-Agent"] == "artproxy:1.0:https://example.org/ops"
    # 16:9 within 512x512 pixels, each side a multiple of 64; the service makes 1024x576.
    assert request.body == {
        "prompt": "a red fox", "params": {"width": 640, "height": 384, "steps": 25, "n": 1,
                                          "seed": "42"},
        "nsfw": False, "censor_nsfw": True, "r2": True, "models": ["Deliberate"]}
    assert Image.open(io.BytesIO(picture.data)).size == (640, 384)
    assert request.status_reads == 1 and not request.withdrawn
    assert [call.method for call in horde.calls] == (
        ["POST"] + ["GET"] * len(request.checks) + ["GET", "GET"])  # checks, status, image


def test_a_key_of_ones_own_draws_larger(horde):
    provider(horde, api_key="my-key").generate("a red fox", ImageOptions())
    params = horde.only_request().body["params"]
    assert (params["width"], params["height"]) == (1024, 1024)


def test_checks_come_about_once_a_second(horde):
    horde.script = Script(checks_before_done=3)
    provider(horde, poll_seconds=1.0).generate("a red fox", ImageOptions())
    checks = horde.only_request().checks
    gaps = [later - earlier for earlier, later in zip(checks, checks[1:], strict=False)]
    assert len(gaps) == 3 and all(0.95 <= gap <= 3 for gap in gaps), gaps


def test_at_the_deadline_the_request_leaves_the_queue(horde):
    horde.script = Script(checks_before_done=1000)
    with pytest.raises(UpstreamTimeout):
        provider(horde, timeout=0.5).generate("a red fox", ImageOptions())
    assert horde.only_request().withdrawn
    assert horde.calls[-1].method == "DELETE"


@pytest.mark.parametrize("script, error, code", [
    (Script(faulted=True), UpstreamFaulted, "upstream_faulted"),
    (Script(censored=True), UpstreamCensored, "upstream_censored"),
])
def test_faulted_and_censored_results_are_their_own_502s(horde, script, error, code):
    horde.script = script
    with pytest.raises(error) as raised:
        provider(horde).generate("a red fox", ImageOptions())
    assert (raised.value.status_code, raised.value.code) == (502, code)
    assert not horde.only_request().withdrawn  # done: nothing to withdraw


def test_an_image_url_on_another_host_is_refused_and_never_fetched(horde):
    with FakeUpstream() as elsewhere:
        horde.script = Script(image_url=f"http://localhost:{elsewhere.port}/x.webp")
        with pytest.raises(BadUpstreamImage):
            provider(horde).generate("a red fox", ImageOptions())
        assert elsewhere.received == []


@pytest.mark.parametrize("url, allowed", [
    ("https://abc123.r2.cloudflarestorage.com/stable-horde/x.webp", True),
    ("https://r2.cloudflarestorage.com/x.webp", False),  # the ending alone is no host of it
    ("https://evil.example/x.r2.cloudflarestorage.com", False),
    ("http://abc123.r2.cloudflarestorage.com/x.webp", False),  # not over TLS
    ("https://abc123.r2.cloudflarestorage.com.evil.example/x.webp", False),
])
def test_which_image_hosts_may_be_fetched(horde, url, allowed):
    assert provider(horde)._may_fetch(url) is allowed


def test_a_base64_picture_is_taken_as_it_is(horde):
    horde.script = Script(base64_image=True)
    picture = provider(horde).generate("a red fox", ImageOptions())
    assert Image.open(io.BytesIO(picture.data)).format == "WEBP"


def test_too_many_prompts_is_busy_with_its_retry_after(horde):
    horde.script = Script(busy=True)
    with pytest.raises(UpstreamBusy) as raised:
        provider(horde).generate("a red fox", ImageOptions())
    assert raised.value.retry_after_seconds == 7


def test_the_hordes_refusal_is_logged_with_its_rc_and_never_shown(horde, caplog):
    too_large = HordeProvider(horde.url, ANONYMOUS_KEY, (), "c", (), 2.0, 10.0, 2**22)
    too_large.pixels = 2048 * 2048  # as if asking past what anonymous callers may
    with pytest.raises(UpstreamRejected) as raised:
        too_large.generate("a red fox", ImageOptions())
    assert "rc=KudosUpfront" in caplog.text
    assert "kudos" not in raised.value.message.lower()


def test_the_service_makes_the_exact_size_asked(make_app, horde):
    client = make_app(PROVIDER=("horde",), HORDE_URL=horde.url).test_client()
    answer = client.get("/generate?p=a+red+fox&size=1000x600").get_json()
    assert (answer["provider"], answer["width"], answer["height"]) == ("horde", 1000, 600)
    params = horde.only_request().body["params"]
    assert (params["width"] % 64, params["height"] % 64) == (0, 0)


def test_censored_prompts_never_rest_the_horde_for_everyone(make_app, horde):
    horde.script = Script(censored=True)
    client = make_app(PROVIDER=("horde",), HORDE_URL=horde.url, PROVIDER_FAILURES=2).test_client()
    for _ in range(3):
        assert client.get("/generate?p=something+unsafe").get_json()["code"] == "upstream_censored"
    assert client.get("/healthz").get_json()["providers"]["horde"]["state"] == "closed"
