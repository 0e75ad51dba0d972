"""Delete tokens, /admin and per-key quotas, with the real server (2 workers) and real Redis."""

from __future__ import annotations

import json
import signal
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.real_server import call, get, serve

KEYS = "key-one,key-two"


def request(method: str, url: str, headers: dict | None = None) -> int:
    return call(method, url, headers)[0]


def test_delete_tokens_work_on_every_worker_of_an_instance(image_dir, processes):
    base_url = serve(processes, image_dir, workers=2)  # no ARTPROXY_SECRET_KEY: one per instance
    stored = [get(f"{base_url}/image?p=x{number}")[2] for number in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda body: request(
            "DELETE", base_url + body["url"], {"X-Delete-Token": body["delete_token"]}), stored))
    assert statuses == [204] * 8
    assert list(image_dir.iterdir()) == []


def test_a_wrong_or_missing_token_is_403_and_an_unknown_image_404(image_dir, processes):
    base_url = serve(processes, image_dir, workers=2)
    body = get(f"{base_url}/image?p=x")[2]
    assert request("DELETE", base_url + body["url"]) == 403
    assert request("DELETE", base_url + body["url"], {"X-Delete-Token": "0" * 32}) == 403
    assert request("GET", base_url + body["url"]) == 200  # still there
    unknown = body["url"].replace(body["url"][-10:-4], "abcdef")
    assert request("DELETE", base_url + unknown, {"X-Delete-Token": body["delete_token"]}) == 404


def test_a_token_survives_a_restart_with_a_secret_key(image_dir, processes):
    base_url = serve(processes, image_dir, workers=2, ARTPROXY_SECRET_KEY="s3cret")
    body = get(f"{base_url}/image?p=x")[2]
    processes[-1].send_signal(signal.SIGTERM)
    processes[-1].wait(timeout=30)
    base_url = serve(processes, image_dir, workers=2, ARTPROXY_SECRET_KEY="s3cret")
    assert request("DELETE", base_url + body["url"], {"X-Delete-Token": body["delete_token"]}) == 204


def test_a_token_works_on_every_instance_sharing_redis(image_dir, tmp_path, processes,
                                                        redis_server):
    shared = dict(ARTPROXY_STORAGE="redis", ARTPROXY_REDIS_URL=redis_server.url,
                  ARTPROXY_SECRET_KEY="same-everywhere")
    first = serve(processes, tmp_path / "one", **shared)
    second = serve(processes, tmp_path / "two", **shared)
    body = get(f"{first}/image?p=x")[2]
    assert request("DELETE", second + body["url"], {"X-Delete-Token": body["delete_token"]}) == 204
    assert request("GET", first + body["url"]) == 404


def test_admin_lists_and_clears_the_live_images(image_dir, processes):
    base_url = serve(processes, image_dir, workers=2, ARTPROXY_ADMIN_KEYS="boss")
    names = {get(f"{base_url}/image?p=x{number}")[2]["url"].removeprefix("/images/")
             for number in range(3)}
    admin = {"Authorization": "Bearer boss"}
    status, _, listing = get(base_url + "/admin/images", headers=admin)
    assert status == 200 and listing["count"] == 3
    assert {image["name"] for image in listing["images"]} == names
    assert listing["bytes"] == sum(image["bytes"] for image in listing["images"]) > 0
    assert request("GET", base_url + "/admin/images", {"Authorization": "Bearer nope"}) == 401
    one = sorted(names)[0]
    assert request("DELETE", f"{base_url}/admin/images/{one}", admin) == 204
    assert request("DELETE", f"{base_url}/admin/images/{one}", admin) == 404
    assert get(base_url + "/admin/images", headers=admin)[2]["count"] == 2
    with urllib.request.urlopen(urllib.request.Request(
            base_url + "/admin/images", method="DELETE", headers=admin), timeout=10) as answer:
        assert json.load(answer) == {"deleted": 2}
    assert list(image_dir.iterdir()) == []


def test_without_admin_keys_admin_does_not_exist(image_dir, processes):
    base_url = serve(processes, image_dir, workers=2)
    assert request("GET", base_url + "/admin/images", {"Authorization": "Bearer anything"}) == 404


def test_each_key_has_its_own_quota_across_the_workers(image_dir, processes):
    base_url = serve(processes, image_dir, workers=2, ARTPROXY_PREMIUM_KEYS=KEYS,
                     ARTPROXY_KEY_QUOTA="4/day")
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda number: get(f"{base_url}/image?p={number}",
                                                   headers={"X-API-Key": "key-one"}), range(8)))
    assert sorted(status for status, _, _ in answers) == [200] * 4 + [429] * 4
    refused = next(headers for status, headers, _ in answers if status == 429)
    assert int(refused["Retry-After"]) > 0 and refused["X-RateLimit-Remaining"] == "0"
    assert get(f"{base_url}/quota", headers={"X-API-Key": "key-one"})[2]["remaining"] == 0
    status, _, quota = get(f"{base_url}/quota", headers={"X-API-Key": "key-two"})
    assert (status, quota["limit"], quota["remaining"]) == (200, 4, 4)
    assert get(f"{base_url}/image?p=y", headers={"X-API-Key": "key-two"})[0] == 200


def test_a_keys_quota_is_shared_by_instances_on_redis(tmp_path, processes, redis_server):
    shared = dict(ARTPROXY_STORAGE="redis", ARTPROXY_REDIS_URL=redis_server.url,
                  ARTPROXY_PREMIUM_KEYS=KEYS, ARTPROXY_KEY_QUOTA="3/day")
    first = serve(processes, tmp_path / "one", **shared)
    second = serve(processes, tmp_path / "two", **shared)
    key = {"Authorization": "Bearer key-two"}
    assert get(f"{first}/image?p=a", headers=key)[0] == 200
    assert get(f"{second}/image?p=b", headers=key)[0] == 200
    assert get(f"{first}/image?p=c", headers=key)[0] == 200
    assert get(f"{second}/image?p=d", headers=key)[0] == 429


@pytest.mark.parametrize("n, expected", [(2, 200), (3, 429)])
def test_v1_images_count_against_the_quota(make_app, n, expected):
    client = make_app(PREMIUM_KEYS=("k",), KEY_QUOTA="3/day").test_client()
    headers = {"Authorization": "Bearer k"}
    assert client.post("/v1/images/generations", json={"prompt": "x"}, headers=headers).status_code == 200
    response = client.post("/v1/images/generations", json={"prompt": "x", "n": n}, headers=headers)
    assert response.status_code == expected
