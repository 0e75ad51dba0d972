"""MagicStudio's free AI art generator: a multipart form POST that answers with image bytes."""

from __future__ import annotations

import secrets
import time
import uuid
from typing import Any, Mapping

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import HTTPError, ReadTimeoutError
from urllib3.util.retry import Retry

from capacity import connections_per_worker, open_file_limit, out_of_descriptors
from errors import ServerBusy
from generator_client import (
    BadUpstreamImage,
    GeneratedImage,
    ImageOptions,
    UpstreamBusy,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
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
DEFAULT_RETRY_AFTER_SECONDS = 30
MAX_RETRY_AFTER_SECONDS = 3600
CHUNK_BYTES = 64 * 1024


class MagicStudioProvider:
    name = "magicstudio"

    def __init__(self, url: str, client_id: str, connect_timeout: float,
                 read_timeout: float, max_bytes: int):
        self.url = url
        self.client_id = client_id or secrets.token_urlsafe(32)
        self.timeout = (connect_timeout, read_timeout)
        self.max_bytes = max_bytes
        self.session = requests.Session()
        # No transport-level retries: the only retry is the one decided in generate(), so a
        # request is never sent more than twice and never resent once generation may have begun.
        # Upstream connections kept open for reuse: as many as the worker holds requests
        # (capacity.py), since a smaller pool closes and reopens connections under load, and
        # urllib3 logs a warning for each one it drops.
        adapter = HTTPAdapter(max_retries=Retry(total=0, redirect=0, raise_on_status=False),
                              pool_maxsize=connections_per_worker(open_file_limit()))
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        # Proxy variables are read once here rather than on every call, and ~/.netrc is never
        # consulted: those per-call lookups showed in profiles of bench/ target 2.
        self.session.proxies.update(requests.utils.get_environ_proxies(url))
        self.session.trust_env = False

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "MagicStudioProvider":
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
        deadline = time.monotonic() + self.timeout[1]
        response = self._post(prompt, deadline)
        if response.status_code in RETRY_WITH_FRESH_IDS:
            response.close()
            response = self._post(prompt, deadline)
        with response:
            self._raise_for_status(response)
            return GeneratedImage(data=self._read_body(response, deadline), provider=self.name)

    def _post(self, prompt: str, deadline: float) -> requests.Response:
        remaining = time_left(deadline)
        fields = {
            "prompt": prompt,
            "output_format": "bytes",
            "user_profile_id": "null",
            "anonymous_user_id": str(uuid.uuid4()),
            "request_timestamp": f"{time.time():.3f}",
            "user_is_subscribed": "false",
            "client_id": self.client_id,
        }
        try:
            return self.session.post(
                self.url,
                # (None, value) parts make requests send multipart/form-data without a file.
                files={key: (None, value) for key, value in fields.items()},
                headers=BROWSER_HEADERS,
                timeout=(min(self.timeout[0], remaining), remaining),
                allow_redirects=False,
                stream=True,
            )
        except (requests.ConnectTimeout, requests.ReadTimeout) as error:
            raise UpstreamTimeout() from error
        except requests.RequestException as error:
            if out_of_descriptors(error):
                raise ServerBusy() from error  # our limit, not the upstream's fault
            raise UpstreamUnavailable() from error

    def _raise_for_status(self, response: requests.Response) -> None:
        status = response.status_code
        if status == 200:
            return
        if status == 429:
            raise UpstreamBusy(retry_after_seconds(response.headers.get("Retry-After")))
        if status >= 500:
            raise UpstreamUnavailable(f"The image generator failed with status {status}")
        raise UpstreamRejected(f"The image generator refused the request with status {status}")

    def _read_body(self, response: requests.Response, deadline: float) -> bytes:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise BadUpstreamImage(too_large_message(self.max_bytes))
        body = bytearray()
        try:
            # read1 returns whatever has arrived; before each read the socket may wait only
            # what is left of the deadline, so neither a stall nor a slow trickle outlives it.
            while True:
                wait_at_most(response, time_left(deadline))
                piece = response.raw.read1(CHUNK_BYTES, decode_content=True)
                if not piece:
                    break
                body += piece
                if len(body) > self.max_bytes:
                    raise BadUpstreamImage(too_large_message(self.max_bytes))
                # An upstream that streams without pause never makes this read wait, so under
                # gevent nothing else in the worker would run (GET / waited 7-9.7 s): yield.
                time.sleep(0)
        except ReadTimeoutError as error:
            raise UpstreamTimeout() from error
        except (HTTPError, OSError) as error:
            raise BadUpstreamImage("The image generator's answer broke off") from error
        return bytes(body)


def time_left(deadline: float) -> float:
    """Seconds until ``deadline``; UpstreamTimeout once it has passed."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise UpstreamTimeout()
    return remaining


def wait_at_most(response: requests.Response, seconds: float) -> None:
    """Make the next socket read of ``response``'s body wait ``seconds`` at most."""
    connection = getattr(response.raw, "connection", None)
    sock = getattr(connection, "sock", None)
    if sock is not None:
        sock.settimeout(seconds)


def retry_after_seconds(header: str | None) -> int:
    """Pass the upstream's wait on to our callers when it is a plain number of seconds."""
    if header and header.strip().isdigit():
        return max(1, min(int(header.strip()), MAX_RETRY_AFTER_SECONDS))
    return DEFAULT_RETRY_AFTER_SECONDS


def too_large_message(max_bytes: int) -> str:
    return f"The image generator's answer is larger than {max_bytes} bytes"
