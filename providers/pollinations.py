"""Pollinations' image API: ``GET <url>/<prompt>?width=&height=&seed=&model=&nologo=true``.

Two bases speak it: the legacy ``https://image.pollinations.ai/prompt`` (anonymous callers get
one request at a time per address; ``referrer`` names a registered app) and the newer
``https://gen.pollinations.ai/image``, which needs a key (``Authorization: Bearer``). It draws
the asked size natively and takes a seed, so the same prompt, size and seed give the same
picture.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import requests

from errors import UpstreamRejected
from generator_client import GeneratedImage, ImageOptions, UpstreamProvider
from providers.http_upstream import (
    new_session,
    raise_for_status,
    read_body,
    timeouts,
    transport_errors,
)

log = logging.getLogger("artproxy")


class PollinationsProvider(UpstreamProvider):
    name = "pollinations"

    def __init__(self, url: str, model: str, connect_timeout: float, read_timeout: float,
                 max_bytes: int, key: str = "", referrer: str = ""):
        self.url = url.rstrip("/")
        self.model = model
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.referrer = referrer
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
                   config["MAX_UPSTREAM_BYTES"], config["POLLINATIONS_KEY"],
                   config["POLLINATIONS_REFERRER"])

    def generate(self, prompt: str, options: ImageOptions) -> GeneratedImage:
        deadline = time.monotonic() + self.read_timeout
        query = {"model": self.model, "nologo": "true"}
        if options.size:
            query["width"], query["height"] = (str(side) for side in options.size)
        if options.seed is not None:
            query["seed"] = str(options.seed)
        if self.referrer:
            query["referrer"] = self.referrer
        with transport_errors():
            response = self.session.get(
                f"{self.url}/{quote(prompt, safe='')}", params=query, headers=self.headers,
                timeout=timeouts(self.connect_timeout, deadline),
                allow_redirects=False, stream=True)
        with response:
            refuse_unpaid(response, bool(self.headers))
            raise_for_status(response)
            return GeneratedImage(data=read_body(response, deadline, self.max_bytes),
                                  provider=self.name)


def refuse_unpaid(response: requests.Response, keyed: bool) -> None:
    """Pollinations' 401 (no key, or a wrong one) and 402 (no balance left) are the operator's
    to fix: the log says which, the caller gets 502 upstream_rejected. Its 429 ("Queue full"
    for anonymous callers) is raise_for_status's 503 upstream_busy."""
    if response.status_code == 401:
        log.warning("pollinations answered 401: %s", "ARTPROXY_POLLINATIONS_KEY was refused"
                    if keyed else "this base needs ARTPROXY_POLLINATIONS_KEY")
    elif response.status_code == 402:
        log.warning("pollinations answered 402: the account behind %s has no balance left",
                    "ARTPROXY_POLLINATIONS_KEY" if keyed else "this address")
    else:
        return
    raise UpstreamRejected(f"The image generator refused the request with status "
                           f"{response.status_code}")
