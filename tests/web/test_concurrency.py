"""Many /image calls at once over real HTTP: each gets its own complete, distinct file."""

from __future__ import annotations

import json
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from testing.fake_upstream import Answer, jpeg_bytes
from tests.helpers import decode_png, stored_files

CALLS = 64


def test_64_concurrent_image_calls(make_app, serve, upstream, image_dir):
    upstream.default_answer = Answer(body=jpeg_bytes(size=(256, 256)), delay=0.2)
    base_url = serve(make_app())

    def call(number: int) -> tuple[int, dict]:
        with urllib.request.urlopen(f"{base_url}/image?p=prompt+{number}", timeout=30) as response:
            return response.status, json.load(response)

    with ThreadPoolExecutor(max_workers=CALLS) as pool:
        results = list(pool.map(call, range(CALLS)))

    assert [status for status, _ in results] == [200] * CALLS
    names = {payload["url"].removeprefix("/images/") for _, payload in results}
    assert len(names) == CALLS
    assert stored_files(image_dir) == sorted(names)  # and no temp file left over
    assert sorted(request.fields["prompt"] for request in upstream.received) == sorted(
        f"prompt {number}" for number in range(CALLS))
    for name in names:
        with urllib.request.urlopen(f"{base_url}/images/{name}", timeout=10) as response:
            assert decode_png(response.read()).size == (256, 256)
