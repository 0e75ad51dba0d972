"""AI Horde (aihorde.net), the community-run free generator: API v2, asynchronous.

    POST   /v2/generate/async         -> 202 {"id"}: the request joins the Horde's queue
    GET    /v2/generate/check/<id>    about once a second: queue_position, wait_time, done
    GET    /v2/generate/status/<id>   once, when done: generations[0].img, a URL or base64
    DELETE /v2/generate/status/<id>   when artproxy gives up first, so the request leaves

The Horde draws sizes in multiples of 64, and more pixels than 512x512 cost an anonymous caller
kudos up front (403 KudosUpfront): it is asked for its largest picture of the caller's shape, and
the service crops and resizes that to the exact size, as for MagicStudio. A seed goes as text.
Image URLs are fetched only from the Horde's own host or the hosts it stores pictures on.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests

from errors import (
    BadUpstreamImage,
    UpstreamBusy,
    UpstreamCensored,
    UpstreamFaulted,
    UpstreamRejected,
    UpstreamUnavailable,
)
from generator_client import (
    GeneratedImage,
    ImageOptions,
    UpstreamProgress,
    UpstreamProvider,
    report_progress,
)
from providers.http_upstream import (
    new_session,
    raise_for_status,
    read_body,
    retry_after_seconds,
    time_left,
    timeouts,
    transport_errors,
)

log = logging.getLogger("artproxy")

CLIENT_VERSION = "1.0"
ANONYMOUS_KEY = "0000000000"
# Above these, the Horde asks kudos up front; anonymous callers have none.
ANONYMOUS_PIXELS = 512 * 512
KEYED_PIXELS = 1024 * 1024
STEPS = 25  # within every model's free step count
# The Horde caches a check for a second and limits how often a caller may ask: more often
# learns nothing. Callers wait on it, so not less often either.
POLL_SECONDS = 1.0
WITHDRAW_SECONDS = 5.0  # how long withdrawing a request may take, past the deadline
JSON_BYTES = 2**20


class HordeProvider(UpstreamProvider):
    name = "horde"

    def __init__(self, url: str, api_key: str, models: tuple[str, ...], contact: str,
                 image_hosts: tuple[str, ...], connect_timeout: float, timeout: float,
                 max_bytes: int, poll_seconds: float = POLL_SECONDS):
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.models = models
        self.image_hosts = tuple(host.lower() for host in image_hosts)
        self.connect_timeout = connect_timeout
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.poll_seconds = poll_seconds
        self.pixels = ANONYMOUS_PIXELS if api_key == ANONYMOUS_KEY else KEYED_PIXELS
        self.headers = {"apikey": api_key, "Client-Agent": f"artproxy:{CLIENT_VERSION}:{contact}"}
        self.session = new_session(url)

    @property
    def upstream(self) -> str:
        return f"{self.url} models={','.join(self.models)}"

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> HordeProvider:
        return cls(config["HORDE_URL"], config["HORDE_API_KEY"], config["HORDE_MODELS"],
                   config["HORDE_CONTACT"], config["HORDE_IMAGE_HOSTS"],
                   config["UPSTREAM_CONNECT_TIMEOUT"], config["HORDE_TIMEOUT"],
                   config["MAX_UPSTREAM_BYTES"])

    def generate(self, prompt: str, options: ImageOptions) -> GeneratedImage:
        deadline = time.monotonic() + self.timeout
        request_id = self._submit(prompt, options, deadline)
        queued = True
        try:
            finished = self._wait_until_done(request_id, deadline)
            queued = False
            if finished.get("faulted"):
                raise UpstreamFaulted()
            generation = self._generation(request_id, deadline)
            return GeneratedImage(self._image(generation, deadline), provider=self.name)
        finally:
            if queued:  # the deadline passed, or the caller is gone: leave the queue
                self._withdraw(request_id)

    def _submit(self, prompt: str, options: ImageOptions, deadline: float) -> str:
        width, height = drawn_size(options, self.pixels)
        params: dict[str, Any] = {"width": width, "height": height, "steps": STEPS, "n": 1}
        if options.seed is not None:
            params["seed"] = str(options.seed)
        body: dict[str, Any] = {"prompt": prompt, "params": params, "nsfw": False,
                                "censor_nsfw": True, "r2": True}
        if self.models:
            body["models"] = list(self.models)
        answer = self._call("POST", "/v2/generate/async", deadline, body, expected=202)
        request_id = answer.get("id")
        if not isinstance(request_id, str) or not request_id:
            raise UpstreamUnavailable("The Horde accepted the request without an id")
        return request_id

    def _wait_until_done(self, request_id: str, deadline: float) -> dict[str, Any]:
        """The request's last check: done, or faulted (which is done too)."""
        while True:
            check = self._call("GET", f"/v2/generate/check/{request_id}", deadline)
            if check.get("done") or check.get("faulted"):
                return check
            report_progress(UpstreamProgress(self.name, whole(check.get("queue_position")),
                                             whole(check.get("wait_time"))))
            if check.get("is_possible") is False:
                raise UpstreamRejected("No worker of the Horde can draw this request now")
            time.sleep(min(self.poll_seconds, time_left(deadline)))

    def _generation(self, request_id: str, deadline: float) -> dict[str, Any]:
        # With r2 off the picture comes inside, as base64: room for the largest one allowed.
        status = self._call("GET", f"/v2/generate/status/{request_id}", deadline,
                            most_bytes=JSON_BYTES + self.max_bytes * 4 // 3)
        if status.get("faulted"):
            raise UpstreamFaulted()
        generations = status.get("generations")
        if not isinstance(generations, list) or not generations or not isinstance(
                generations[0], dict):
            raise BadUpstreamImage("The Horde finished without a picture")
        if generations[0].get("censored"):
            raise UpstreamCensored()
        return generations[0]

    def _image(self, generation: dict[str, Any], deadline: float) -> bytes:
        img = generation.get("img")
        if not isinstance(img, str) or not img:
            raise BadUpstreamImage("The Horde finished without a picture")
        if not img.startswith(("https://", "http://")):
            try:  # with r2 off, the picture itself, as base64 WebP
                return base64.b64decode(img, validate=True)
            except (binascii.Error, ValueError):
                raise BadUpstreamImage("The Horde's picture is neither a URL nor base64") from None
        if not self._may_fetch(img):
            log.warning("horde: an image URL on %s was refused (ARTPROXY_HORDE_IMAGE_HOSTS)",
                        urlsplit(img).hostname)
            raise BadUpstreamImage("The Horde's picture is on a host artproxy does not fetch from")
        with transport_errors():
            response = self.session.get(img, timeout=timeouts(self.connect_timeout, deadline),
                                        allow_redirects=False, stream=True)
        with response:
            raise_for_status(response)
            return read_body(response, deadline, self.max_bytes)

    def _may_fetch(self, url: str) -> bool:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        own = urlsplit(self.url)
        if parts.scheme == own.scheme and host == (own.hostname or "").lower():
            return True
        return parts.scheme == "https" and any(host.endswith(ending) and host != ending.lstrip(".")
                                               for ending in self.image_hosts)

    def _withdraw(self, request_id: str) -> None:
        """Take the request out of the Horde's queue; a failure is only logged."""
        try:
            self.session.delete(f"{self.url}/v2/generate/status/{request_id}",
                                headers=self.headers,
                                timeout=(self.connect_timeout, WITHDRAW_SECONDS)).close()
        except requests.RequestException as error:
            log.warning("horde: a request could not be withdrawn: %s", type(error).__name__)

    def _call(self, method: str, path: str, deadline: float, body: Any = None,
              expected: int = 200, most_bytes: int = JSON_BYTES) -> dict[str, Any]:
        """The JSON object of one API call; the Horde's errors as artproxy's."""
        with transport_errors():
            response = self.session.request(
                method, self.url + path, json=body, headers=self.headers,
                timeout=timeouts(self.connect_timeout, deadline), allow_redirects=False,
                stream=True)
        with response:
            data = read_body(response, deadline, most_bytes)
            if response.status_code != expected:
                raise horde_error(response, data)
        try:
            answer = json.loads(data)
        except ValueError:
            raise UpstreamUnavailable("The Horde's answer is not JSON") from None
        if not isinstance(answer, dict):
            raise UpstreamUnavailable("The Horde's answer is not a JSON object")
        return answer


def horde_error(response: requests.Response, data: bytes) -> Exception:
    """The Horde's ``{"message", "rc"}`` error as artproxy's; its rc goes to the log only."""
    try:
        rc = json.loads(data).get("rc") or "-"
    except (ValueError, AttributeError):
        rc = "-"
    status = response.status_code
    log.warning("horde: %s answered %d, rc=%s", urlsplit(response.url).path, status, rc)
    if status == 429:
        return UpstreamBusy(retry_after_seconds(response.headers.get("Retry-After")),
                            "The Horde has too many requests from this server; try again later")
    if status >= 500 or status == 404:  # 404: the Horde no longer knows the request
        return UpstreamUnavailable(f"The Horde failed with status {status}")
    return UpstreamRejected(f"The Horde refused the request with status {status}")


def drawn_size(options: ImageOptions, pixels: int) -> tuple[int, int]:
    """The caller's shape (square if none was asked) with about ``pixels`` pixels, each side a
    multiple of 64: the largest picture the Horde draws without kudos up front."""
    width, height = options.size or (1, 1)
    scale = math.sqrt(pixels / (width * height))
    return (max(64, math.floor(width * scale / 64) * 64),
            max(64, math.floor(height * scale / 64) * 64))


def whole(value: object) -> int | None:
    """A count or a number of seconds the Horde sent, if it is one."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        return None
    return round(value)
