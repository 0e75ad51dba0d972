"""Redis storage and shared rate limits, against a real redis-server the tests start."""

from __future__ import annotations

import os
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

import cleanup
import storage
from storage.redis_storage import RedisImageStore
from tests.helpers import FakeClock, decode_png, free_port, stored_files

PNG = "image/png"


def every_key_expires(client) -> list[tuple[bytes, int]]:
    """(key, milliseconds left) for every key in Redis; -1 would mean a key without expiry."""
    return [(key, client.pttl(key)) for key in client.scan_iter()]


# The store on its own.

def test_an_image_is_one_key_under_the_prefix_with_its_lifetime(redis_server):
    clock = FakeClock()
    store = RedisImageStore(redis_server.client(), "test:", clock)
    stored = store.put(b"\x89PNG bytes", PNG, 120)
    keys = every_key_expires(redis_server.client())
    assert [key for key, _ in keys] == [f"test:image:{stored.name}".encode()]
    assert 119_000 < keys[0][1] <= 120_000
    back = store.get(stored.name)
    assert (back.data, back.mime, back.expires_at) == (b"\x89PNG bytes", PNG, stored.expires_at)
    assert back.created_at == pytest.approx(clock())


def test_past_its_deadline_an_image_is_gone_even_if_redis_still_has_it(redis_server):
    clock = FakeClock()
    store = RedisImageStore(redis_server.client(), "test:", clock)
    stored = store.put(b"data", PNG, 10)
    clock.advance(10)  # Redis runs on real time; the name's deadline decides first
    assert store.get(stored.name) is None


def test_malformed_names_never_reach_redis(redis_server, monkeypatch):
    store = RedisImageStore(redis_server.client(), "test:", FakeClock())
    monkeypatch.setattr(store.client, "get", lambda key: pytest.fail(f"asked Redis for {key}"))
    for name in ["*", "../x.png", "test:image:*", "1-abc.png", ""]:
        assert store.get(name) is None


def test_delete_removes_the_key(redis_server):
    store = RedisImageStore(redis_server.client(), "test:", FakeClock())
    stored = store.put(b"data", PNG, 60)
    assert store.delete(stored.name) is True
    assert store.get(stored.name) is None
    assert store.delete(stored.name) is False


# Two app instances, one Redis, no shared disk.

def test_image_made_on_one_instance_is_served_by_the_other(make_redis_app, image_dir):
    first, second = make_redis_app().test_client(), make_redis_app().test_client()
    url = first.get("/image?p=a bridge").get_json()["url"]
    served = second.get(url)
    assert served.status_code == 200
    assert served.headers["Content-Type"] == "image/png"
    assert served.headers["Cache-Control"].startswith("public, max-age=")
    assert served.headers["Last-Modified"] and served.headers["ETag"]
    decode_png(served.data)
    again = first.get(url, headers={"If-None-Match": served.headers["ETag"]})
    assert again.status_code == 304
    assert stored_files(image_dir) == []  # nothing written locally
    assert not cleanup.scheduler_running()


def test_redis_images_expire_by_themselves(make_redis_app, redis_server):
    first, second = (make_redis_app(IMAGE_TTL=1).test_client() for _ in range(2))
    url = first.get("/image?p=brief").get_json()["url"]
    assert second.get(url).status_code == 200
    keys = every_key_expires(redis_server.client())
    assert keys and all(0 < left <= 1000 for _, left in keys)
    give_up = time.monotonic() + 3
    while redis_server.client().dbsize() and time.monotonic() < give_up:
        time.sleep(0.05)
    assert redis_server.client().dbsize() == 0  # Redis removed the key itself: no sweeper ran
    assert second.get(url).status_code == 404


def test_every_key_artproxy_writes_expires(make_redis_app, redis_server):
    client = make_redis_app(RATE_LIMIT="100/minute").test_client()
    client.get("/image?p=one")
    client.get("/generate?p=two")
    keys = every_key_expires(redis_server.client())
    assert len(keys) >= 2  # the image and the rate-limit counter
    assert all(key.startswith(b"artproxy:") for key, _ in keys)
    assert all(left > 0 for _, left in keys), keys


def test_rate_limit_is_shared_by_instances_and_answers_429_json(make_redis_app):
    first, second = (make_redis_app(RATE_LIMIT="3/minute").test_client() for _ in range(2))
    assert first.get("/generate?p=a").status_code == 200
    assert second.get("/image?p=b").status_code == 200
    assert first.get("/image?p=c").status_code == 200
    refused = second.get("/generate?p=d")
    assert refused.status_code == 429
    assert "Too many requests" in refused.get_json()["error"]
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert first.get("/").status_code == 200  # only the generating routes are limited


def test_without_trusted_proxies_forwarded_for_cannot_dodge_the_limit(make_redis_app):
    client = make_redis_app(RATE_LIMIT="2/minute").test_client()
    answers = [client.get("/generate?p=x", headers={"X-Forwarded-For": f"10.0.0.{n}"}).status_code
               for n in range(3)]
    assert answers == [200, 200, 429]


def test_behind_one_trusted_proxy_each_client_address_has_its_own_limit(make_redis_app):
    client = make_redis_app(RATE_LIMIT="1/minute", TRUSTED_PROXIES=1).test_client()

    def get_as(address: str) -> int:
        return client.get("/generate?p=x", headers={"X-Forwarded-For": address}).status_code

    assert [get_as("203.0.113.1"), get_as("203.0.113.2"), get_as("203.0.113.1")] == [200, 200, 429]


# Redis going away and coming back.

def test_outage_gives_503_json_quickly_and_recovery_needs_nothing(make_redis_app, redis_server):
    client = make_redis_app(RATE_LIMIT="100/minute").test_client()
    url = client.get("/image?p=before").get_json()["url"]
    assert client.get("/healthz").status_code == 200
    redis_server.stop()

    for path in ["/image?p=during", url, "/healthz"]:
        started = time.monotonic()
        response = client.get(path)
        assert response.status_code == 503, path
        assert time.monotonic() - started < 5, path
        body = response.get_json()
        assert "error" in body or body["status"] == "unavailable"
    assert client.get("/healthz").get_json()["storage"]["reachable"] is False
    # /generate stores nothing; with Redis away each instance counts its limits in memory.
    assert client.get("/generate?p=during").status_code == 200

    redis_server.start()
    assert client.get("/healthz").status_code == 200
    assert client.get("/image?p=after").status_code == 200


def test_a_stalled_redis_costs_seconds_not_minutes(make_redis_app, redis_server):
    client = make_redis_app(RATE_LIMIT="100/minute").test_client()
    url = client.get("/image?p=before").get_json()["url"]
    redis_server.pause()
    try:
        for path in ["/image?p=during", url, "/healthz"]:
            started = time.monotonic()
            assert client.get(path).status_code == 503, path
            assert time.monotonic() - started < 5, path
    finally:
        redis_server.resume()
    assert client.get(url).status_code == 200


def test_two_real_servers_with_separate_folders_act_as_one(redis_server, tmp_path, processes):
    from tests.real_server import environment, get, start, wait_until_serving

    urls = []
    for number in (1, 2):
        folder = tmp_path / f"instance{number}"
        folder.mkdir()
        port = free_port()
        process = start([sys.executable, "main.py"], environment(
            folder, port, ARTPROXY_STORAGE="redis", ARTPROXY_REDIS_URL=redis_server.url,
            ARTPROXY_RATE_LIMIT="3/minute"))
        processes.append(process)
        urls.append(f"http://127.0.0.1:{port}")
        wait_until_serving(urls[-1], process)

    status, _, body = get(urls[0] + "/image?p=lighthouse")
    assert status == 200
    with urllib.request.urlopen(urls[1] + body["url"], timeout=10) as served:
        assert served.headers["Content-Type"] == "image/png"
        decode_png(served.read())
    assert get(urls[1] + "/healthz")[2]["storage"] == {"kind": "redis", "reachable": True}
    assert get(urls[1] + "/generate?p=two")[0] == 200
    assert get(urls[0] + "/generate?p=three")[0] == 200
    status, headers, body = get(urls[1] + "/generate?p=four")
    assert status == 429 and "Retry-After" in headers
    assert [list((tmp_path / f"instance{n}").iterdir()) for n in (1, 2)] == [[], []]


@pytest.mark.parametrize("value", [b"text/html\n1\n<script>alert(1)</script>", b"garbage",
                                   b"image/png\nnot-a-number\n\x89PNG"])
def test_values_artproxy_did_not_write_are_treated_as_missing(redis_server, value, caplog):
    store = RedisImageStore(redis_server.client(), "test:", FakeClock())
    name = storage.new_name(PNG, FakeClock()() + 60)
    redis_server.client().set(store.key_for(name), value)
    assert store.get(name) is None
    assert "holds no artproxy image" in caplog.text


def test_planted_values_are_404_json_over_http(make_redis_app, redis_server):
    app = make_redis_app()
    client = app.test_client()
    name = storage.new_name(PNG, app.extensions["artproxy"].clock() + 60)
    redis_server.client().set(f"artproxy:image:{name}", b"text/html\n1\n<script>x</script>")
    response = client.get(f"/images/{name}")
    assert response.status_code == 404
    assert response.content_type == "application/json"


# Pictures kept in a process's memory (storage/hot_images.py).

def test_a_picture_served_again_comes_from_memory_once_redis_says_it_exists(redis_server,
                                                                            monkeypatch):
    store = RedisImageStore(redis_server.client(), "test:", FakeClock(), hot_bytes=2**20)
    stored = store.put(b"\x89PNG bytes", PNG, 60)
    assert store.get(stored.name).data == b"\x89PNG bytes"  # read from Redis, kept
    asked = []
    monkeypatch.setattr(store.client, "get", lambda key: pytest.fail(f"fetched {key} again"))
    real_exists = store.exists
    monkeypatch.setattr(store, "exists", lambda key: asked.append(key) or real_exists(key))
    assert store.get(stored.name).data == b"\x89PNG bytes"
    assert asked == [store.key_for(stored.name)]


def test_a_kept_picture_deleted_by_another_instance_is_gone_at_once(redis_server):
    here = RedisImageStore(redis_server.client(), "test:", FakeClock(), hot_bytes=2**20)
    there = RedisImageStore(redis_server.client(), "test:", FakeClock(), hot_bytes=2**20)
    stored = here.put(b"data", PNG, 60)
    assert here.get(stored.name) is not None and there.get(stored.name) is not None
    assert there.delete(stored.name) is True
    assert here.get(stored.name) is None
    assert here.hot.size_bytes == 0


def test_a_kept_picture_is_never_served_past_its_deadline(redis_server):
    clock = FakeClock()
    store = RedisImageStore(redis_server.client(), "test:", clock, hot_bytes=2**20)
    stored = store.put(b"data", PNG, 10)
    assert store.get(stored.name) is not None
    clock.advance(10)  # Redis still has the key: it runs on real time
    assert store.get(stored.name) is None


def test_kept_pictures_stay_within_the_budget_least_recently_served_out_first():
    from storage.hot_images import HotImages

    hot = HotImages(max_bytes=400)
    pictures = [storage.StoredImage(f"p{number}", PNG, 100.0, data=bytes(100))
                for number in range(5)]
    for picture in pictures[:4]:
        hot.put(picture, now=0)
    hot.get("p0")  # served lately: stays
    hot.put(pictures[4], now=0)
    assert hot.size_bytes == 400
    assert [hot.get(f"p{n}") is not None for n in range(5)] == [True, False, True, True, True]
    hot.put(storage.StoredImage("big", PNG, 100.0, data=bytes(101)), now=0)
    assert hot.get("big") is None  # over a quarter of the budget: not kept
    hot.put(storage.StoredImage("late", PNG, 200.0, data=bytes(100)), now=150)
    assert hot.size_bytes == 100  # the others' deadlines passed: let go


def test_a_picture_deleted_on_one_real_instance_is_404_on_the_other_at_once(
        redis_server, tmp_path, processes):
    from tests.real_server import get, serve

    urls = []
    for number in (1, 2):
        folder = tmp_path / f"instance{number}"
        folder.mkdir()
        urls.append(serve(processes, folder, workers=2, ARTPROXY_STORAGE="redis",
                          ARTPROXY_REDIS_URL=redis_server.url, ARTPROXY_SECRET_KEY="one secret"))
    status, _, body = get(urls[0] + "/image?p=lighthouse")
    assert status == 200

    def statuses_at_once(count: int) -> list[int]:
        """``count`` GETs of the picture from the first instance at once: their EXISTS checks
        share round trips (storage/batched_exists.py)."""
        def one(_: int) -> int:
            try:
                with urllib.request.urlopen(urls[0] + body["url"], timeout=10) as served:
                    decode_png(served.read())
                    return served.status
            except urllib.error.HTTPError as refused:
                return refused.code

        with ThreadPoolExecutor(max_workers=count) as pool:
            return list(pool.map(one, range(count)))

    assert statuses_at_once(8) == [200] * 8  # both workers of the first instance keep it
    assert statuses_at_once(40) == [200] * 40
    request = urllib.request.Request(urls[1] + body["url"], method="DELETE",
                                     headers={"X-Delete-Token": body["delete_token"]})
    with urllib.request.urlopen(request, timeout=10) as deleted:
        assert deleted.status == 204
    assert statuses_at_once(40) == [404] * 40


@pytest.mark.parametrize("request_headers", [{}, {"Range": "bytes=0-99"}, {"Range": "bytes=-10"}])
def test_a_picture_served_from_memory_answers_as_one_read_from_redis(make_redis_app,
                                                                    request_headers):
    from tests.web.test_images import COMPARABLE_HEADERS

    kept, not_kept = (make_redis_app(REDIS_HOT_IMAGES_MB=size).test_client() for size in (32, 0))
    url = kept.get("/image?p=a bridge").get_json()["url"]
    kept.get(url)  # now in the first one's memory
    from_memory, from_redis = kept.get(url, headers=request_headers), not_kept.get(
        url, headers=request_headers)
    assert from_memory.status_code == from_redis.status_code
    assert from_memory.data == from_redis.data
    for name in COMPARABLE_HEADERS:
        assert from_memory.headers.get(name) == from_redis.headers.get(name), name
    assert from_memory.headers["ETag"].strip('"') == url.rsplit("/", 1)[1]


def test_memory_files_are_closed_when_their_pictures_leave():
    from storage.hot_images import MEMORY_FILES, HotImages

    if not MEMORY_FILES:
        pytest.skip("memory files are Linux's")
    open_before = len(os.listdir("/proc/self/fd"))
    hot = HotImages(max_bytes=4000)
    for number in range(20):
        kept = hot.put(storage.StoredImage(f"p{number}", PNG, 100.0, data=bytes(1000),
                                           created_at=1.0), now=0)
        assert kept.path is not None and kept.path.read_bytes() == bytes(1000)
    assert len(os.listdir("/proc/self/fd")) == open_before + 4  # the four that fit
    for number in range(16, 20):
        hot.discard(f"p{number}")
    assert len(os.listdir("/proc/self/fd")) == open_before
