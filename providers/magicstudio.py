"""MagicStudio's free AI art generator: a multipart form POST that answers with image bytes.

It takes only a prompt: sizes are made by the service (crop and resize), seeds are ignored.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Mapping
from typing import Any

import urllib3

from generator_client import GeneratedImage, ImageOptions, UpstreamProvider
from providers.http_upstream import (
    UpstreamAnswer,
    UpstreamPool,
    raise_for_status,
    read_body,
    timeouts,
)

BROWSER_HEADERS = {
    "Origin": "https://magicstudio.com",
    "Referer": "https://magicstudio.com/ai-art-generator/",
    "User-Agent": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
    ),
    "Accept": "application/json, text/plain, */*",
}
# The upstream answers these when it dislikes a request's anonymous ids; fresh ids usually pass.
RETRY_WITH_FRESH_IDS = {403, 422}


class MagicStudioProvider(UpstreamProvider):
    name = "magicstudio"

    def __init__(self, url: str, client_id: str, connect_timeout: float,
                 read_timeout: float, max_bytes: int):
        self.url = url
        self.client_id = client_id or secrets.token_urlsafe(32)
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_bytes = max_bytes
        self.connections = UpstreamPool(url)

    @property
    def upstream(self) -> str:
        return self.url

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> MagicStudioProvider:
        return cls(
            url=config["MAGICSTUDIO_URL"],
            client_id=config["MAGICSTUDIO_CLIENT_ID"],
            connect_timeout=config["UPSTREAM_CONNECT_TIMEOUT"],
            read_timeout=config["UPSTREAM_TIMEOUT"],
            max_bytes=config["MAX_UPSTREAM_BYTES"],
        )

    def generate(self, prompt: str, options: ImageOptions) -> GeneratedImage:
        # One deadline for the whole call, retry and body included: every wait gets only what
        # is left of it, so a call never outlives ARTPROXY_UPSTREAM_TIMEOUT by more than a hair.
        deadline = time.monotonic() + self.read_timeout
        response = self._post(prompt, deadline)
        if response.status_code in RETRY_WITH_FRESH_IDS:
            response.close()
            response = self._post(prompt, deadline)
        with response:
            raise_for_status(response)
            return GeneratedImage(data=read_body(response, deadline, self.max_bytes),
                                  provider=self.name)

    def _post(self, prompt: str, deadline: float) -> UpstreamAnswer:
        fields = {
            "prompt": prompt,
            "output_format": "bytes",
            "user_profile_id": "null",
            "anonymous_user_id": str(uuid.uuid4()),
            "request_timestamp": f"{time.time():.3f}",
            "user_is_subscribed": "false",
            "client_id": self.client_id,
        }
        body, content_type = urllib3.encode_multipart_formdata(fields)
        return self.connections.request(
            "POST", self.url, body=body, headers={**BROWSER_HEADERS, "Content-Type": content_type},
            timeout=timeouts(self.connect_timeout, deadline))
