"""Pollinations' keyless image API: ``GET <url>/<prompt>?width=&height=&seed=&model=&nologo=true``.

It draws the asked size natively and takes a seed, so the same prompt, size and seed give the
same picture.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from generator_client import GeneratedImage, ImageOptions, UpstreamProvider
from providers.http_upstream import (
    new_session,
    raise_for_status,
    read_body,
    timeouts,
    transport_errors,
)


class PollinationsProvider(UpstreamProvider):
    name = "pollinations"

    def __init__(self, url: str, model: str, connect_timeout: float, read_timeout: float,
                 max_bytes: int):
        self.url = url.rstrip("/")
        self.model = model
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_bytes = max_bytes
        self.session = new_session(url)

    @property
    def upstream(self) -> str:
        return f"{self.url} model={self.model}"

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> PollinationsProvider:
        return cls(config["POLLINATIONS_URL"], config["POLLINATIONS_MODEL"],
                   config["UPSTREAM_CONNECT_TIMEOUT"], config["UPSTREAM_TIMEOUT"],
                   config["MAX_UPSTREAM_BYTES"])

    def generate(self, prompt: str, options: ImageOptions) -> GeneratedImage:
        deadline = time.monotonic() + self.read_timeout
        query = {"model": self.model, "nologo": "true"}
        if options.size:
            query["width"], query["height"] = (str(side) for side in options.size)
        if options.seed is not None:
            query["seed"] = str(options.seed)
        with transport_errors():
            response = self.session.get(
                f"{self.url}/{quote(prompt, safe='')}", params=query,
                timeout=timeouts(self.connect_timeout, deadline),
                allow_redirects=False, stream=True)
        with response:
            raise_for_status(response)
            return GeneratedImage(data=read_body(response, deadline, self.max_bytes),
                                  provider=self.name)
