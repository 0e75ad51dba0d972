"""Prompt URLs: ``GET /prompt/<prompt>?<options>`` answers the picture itself, so a page needs
only ``<img src=".../prompt/a%20red%20fox">``. The same URL gets the same bytes while they are
cached (prompt_cache.py), with validators and a cache life that ends with the entry."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING
from urllib.parse import unquote_to_bytes

from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response as BaseResponse

from errors import BadPrompt, ImageNotFound, NotCached
from options import checked_prompt, parse_options
from prompt_cache import PromptCache
from service import RenderedImage
from storage import StoredImage
from web.access import check_embedding, embedding_guarded
from web.charging import current_charge, made, take_one
from web.images import stored_image_response
from web.limits import generating_when_drawn, spend_one_generation
from web.responses import no_store, service

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

prompt_urls = Blueprint("prompt_urls", __name__)
CACHE_HEADER = "X-Artproxy-Cache"
PROMPT_PREFIX = "/prompt/"
PROMPT_ROUTE = PROMPT_PREFIX + "<path:prompt>"
KNOWN_KEYS = "artproxy_prompt_keys"


def prompt_cache() -> PromptCache:
    return current_app.extensions["artproxy_prompt_cache"]


class KnownKeys:
    """The cache key of each prompt URL this process has read and checked, by its path and
    query as they arrived, so that a hit below Flask (web/fast_path.py) need not read, check
    and hash the request again. Bounded: past ``size`` URLs, the oldest are forgotten."""

    def __init__(self, size: int = 4096):
        self.size = size
        self._keys: dict[tuple[str, str], str] = {}

    def get(self, path: str, query: str) -> str | None:
        return self._keys.get((path, query))

    def add(self, path: str, query: str, key: str) -> None:
        self._keys[(path, query)] = key
        while len(self._keys) > self.size:
            try:
                del self._keys[next(iter(self._keys))]  # dicts keep insertion order
            except (KeyError, StopIteration, RuntimeError):  # another greenlet got there first
                break


# The prompt is one path segment, percent-encoded; a "%2F" in it reaches the app as "/", so the
# rule takes the rest of the path. "/prompt/" alone is a missing prompt, not an unknown route.
@prompt_urls.route(PROMPT_PREFIX, defaults={"prompt": ""}, methods=["GET", "HEAD"])
@prompt_urls.route(PROMPT_ROUTE, methods=["GET", "HEAD"])
@generating_when_drawn
def prompt_image(prompt: str) -> BaseResponse:
    """The picture of ``prompt`` as the options ask; a miss spends one unit of the rate limit,
    a hit nothing. HEAD answers what is cached, or 404, and never draws."""
    if not current_app.config["PROMPT_URLS"]:
        raise NotFound()
    check_embedding()  # before any storage is read or upstream called
    refuse_broken_text(request.environ)
    prompt = checked_prompt(prompt, current_app.config["MAX_PROMPT_CHARS"], "Prompt is required")
    options = parse_options(request.args, current_app.config["PROVIDER"])
    cache = prompt_cache()
    key = cache.key_for(prompt, options)
    current_app.extensions[KNOWN_KEYS].add(request.environ.get("PATH_INFO", ""),
                                           request.environ.get("QUERY_STRING", ""), key)
    if request.method == "HEAD":
        image = cache.lookup(key)
        if image is None:
            raise NotCached()
        return answer(image, hit=True)
    drawn: list[RenderedImage] = []

    def draw() -> RenderedImage:
        drawn.append(service().render(prompt, cache.seeded(key, options)))
        return drawn[0]

    def spend() -> None:  # this request draws: its limit, and its account's credit
        spend_one_generation()
        take_one()

    fetched = cache.fetch(key, draw, spend)
    if drawn and not fetched.hit:  # drawn here, and cached: the account's to pay for
        made(current_charge(), prompt, options, drawn[0])
    return answer(fetched.image, fetched.hit)


@prompt_urls.after_request
def errors_are_not_kept(response: Response) -> Response:
    # A shared cache may keep a 404 it was not told otherwise about, and serve it for the
    # picture once it exists.
    if response.status_code >= 400:
        no_store(response)
    return response


def refuse_broken_text(environ: WSGIEnvironment) -> None:
    """BadPrompt for a path whose percent-escapes are not UTF-8: werkzeug would have made each
    bad byte a U+FFFD, and many URLs one prompt."""
    # The path as it arrived (gunicorn, werkzeug); PATH_INFO is it unquoted, as latin-1.
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    try:
        if raw is not None:
            unquote_to_bytes(raw.split("?", 1)[0]).decode("utf-8")
        else:
            environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8")
    except UnicodeError:
        raise BadPrompt("The prompt is not valid UTF-8 text") from None


def answer(image: StoredImage, hit: bool) -> BaseResponse:
    try:
        return prompt_image_response(image, hit, request.environ, service().clock(),
                                     current_app.response_class,
                                     embedding_guarded(current_app.config))
    except FileNotFoundError:
        raise ImageNotFound() from None  # swept between the lookup and the open


def prompt_image_response(image: StoredImage, hit: bool, environ: WSGIEnvironment, now: float,
                          response_class: type[Response], guarded: bool) -> BaseResponse:
    """The cached picture as a prompt URL answers it, here and in web/fast_path.py."""
    # Names the entry without telling its stored name (and so its /images URL).
    public_name = hashlib.sha256(image.name.encode("ascii")).hexdigest()[:32]
    response = stored_image_response(image, environ, now, response_class, guarded, public_name)
    response.headers[CACHE_HEADER] = "hit" if hit else "miss"
    return response
