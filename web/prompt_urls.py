"""Prompt URLs: ``GET /prompt/<prompt>?<options>`` answers the picture itself, so a page needs
only ``<img src=".../prompt/a%20red%20fox">``. The same URL gets the same bytes while they are
cached (prompt_cache.py), with validators and a cache life that ends with the entry."""

from __future__ import annotations

import hashlib

from flask import Blueprint, current_app, request
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response as BaseResponse

from errors import ImageNotFound, NotCached
from options import checked_prompt, parse_options
from prompt_cache import PromptCache
from storage import StoredImage
from web.access import check_embedding, vary_by_referer
from web.images import stored_image_response
from web.limits import generating_when_drawn, spend_one_generation
from web.responses import service

prompt_urls = Blueprint("prompt_urls", __name__)
CACHE_HEADER = "X-Artproxy-Cache"


def prompt_cache() -> PromptCache:
    return current_app.extensions["artproxy_prompt_cache"]


# The prompt is one path segment, percent-encoded; a "%2F" in it reaches the app as "/", so the
# rule takes the rest of the path. "/prompt/" alone is a missing prompt, not an unknown route.
@prompt_urls.route("/prompt/", defaults={"prompt": ""}, methods=["GET", "HEAD"])
@prompt_urls.route("/prompt/<path:prompt>", methods=["GET", "HEAD"])
@generating_when_drawn
def prompt_image(prompt: str) -> BaseResponse:
    """The picture of ``prompt`` as the options ask; a miss spends one unit of the rate limit,
    a hit nothing. HEAD answers what is cached, or 404, and never draws."""
    if not current_app.config["PROMPT_URLS"]:
        raise NotFound()
    check_embedding()  # before any storage is read or upstream called
    prompt = checked_prompt(prompt, current_app.config["MAX_PROMPT_CHARS"], "Prompt is required")
    options = parse_options(request.args, current_app.config["PROVIDER"])
    cache = prompt_cache()
    key = cache.key_for(prompt, options)
    if request.method == "HEAD":
        image = cache.lookup(key)
        if image is None:
            raise NotCached()
        return answer(image, hit=True)
    fetched = cache.fetch(key, lambda: service().render(prompt, cache.seeded(key, options)),
                          spend_one_generation)
    return answer(fetched.image, fetched.hit)


def answer(image: StoredImage, hit: bool) -> BaseResponse:
    # Names the entry without telling its stored name (and so its /images URL).
    public_name = hashlib.sha256(image.name.encode("ascii")).hexdigest()[:32]
    try:
        response = stored_image_response(image, request.environ, service().clock(),
                                         current_app.response_class, public_name)
    except FileNotFoundError:
        raise ImageNotFound() from None  # swept between the lookup and the open
    response.headers[CACHE_HEADER] = "hit" if hit else "miss"
    return vary_by_referer(response)
