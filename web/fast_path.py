"""Stored images and prompt URL hits without Flask's request machinery, for the requests that
make up most traffic.

A page that embeds artproxy images sends one plain GET per <img>. Serving those below Flask
(no request context, routing, or after-request hooks) raised the stored-image rate by about
13% in bench/ target 3. Missing and expired images get the route's 404 JSON after a single
lookup. A prompt URL is answered here only when this process has read and checked that very
URL before (web/prompt_urls.py's KnownKeys) and its picture is cached: a hit then costs what a
stored image costs, and a miss, or a URL seen for the first time, is the route's. Anything
else goes on to the Flask app: every request that carries an Origin header (CORS), and while
ARTPROXY_EMBED_ORIGINS limits who may embed, every request the guard would look at (one with a
Referer, or, when one is required, one without).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from flask import Response
from werkzeug.wrappers import Response as BaseResponse

from errors import ArtproxyError, ImageNotFound
from prompt_cache import PromptCache
from service import ImageService
from web.errors import error_response
from web.images import stored_image_response
from web.prompt_urls import PROMPT_PREFIX, KnownKeys, prompt_image_response
from web.responses import add_security_headers

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

PREFIX = "/images/"


class StoredImageFastPath:
    def __init__(self, wsgi_app: WSGIApplication, service: ImageService, cors_enabled: bool,
                 response_class: type[Response], embedding_guarded: bool = False,
                 referer_required: bool = False, prompt_cache: PromptCache | None = None,
                 known_keys: KnownKeys | None = None):
        self.wsgi_app = wsgi_app
        # Requests the embedding guard (web/access.py) must look at go on to Flask.
        self.embedding_guarded = embedding_guarded
        self.referer_required = referer_required
        self.service = service
        self.cors_enabled = cors_enabled
        self.response_class = response_class
        self.prompt_cache = prompt_cache  # None while prompt URLs are off
        self.known_keys = known_keys

    def __call__(self, environ: WSGIEnvironment,
                 start_response: StartResponse) -> Iterable[bytes]:
        response = None
        if self.plain(environ):
            path = environ.get("PATH_INFO", "")
            name = image_name(path)
            if name is not None:
                response = self.stored_image(name, environ)
            elif path.startswith(PROMPT_PREFIX):
                response = self.prompt_hit(path, environ)
        if response is None:
            return self.wsgi_app(environ, start_response)
        add_security_headers(response)
        if self.cors_enabled:
            # The answer differs for requests with an Origin; shared caches must know.
            response.vary.add("Origin")
        return response(environ, start_response)

    def plain(self, environ: WSGIEnvironment) -> bool:
        """A GET without an Origin, that the embedding guard need not look at."""
        return (environ.get("REQUEST_METHOD") == "GET" and "HTTP_ORIGIN" not in environ
                and not (self.embedding_guarded
                         and ("HTTP_REFERER" in environ or self.referer_required)))

    def stored_image(self, name: str, environ: WSGIEnvironment) -> BaseResponse | None:
        try:
            # The store checks the name against the exact pattern before any storage access.
            stored = self.service.store.get(name)
            if stored is None:
                raise ImageNotFound()
            return stored_image_response(stored, environ, self.service.clock(),
                                         self.response_class, self.embedding_guarded)
        except FileNotFoundError:  # swept between the lookup and the open
            return self.error_response(ImageNotFound())
        except ArtproxyError as error:  # storage unreachable: the JSON Flask would send
            return self.error_response(error)
        except OSError:
            return None  # let Flask log it and answer 500

    def prompt_hit(self, path: str, environ: WSGIEnvironment) -> BaseResponse | None:
        """A prompt URL this process has checked before, whose picture is cached; anything
        else (a miss, a URL not seen yet, a storage fault) is the Flask route's to answer."""
        if self.prompt_cache is None or self.known_keys is None:
            return None
        key = self.known_keys.get(path, environ.get("QUERY_STRING", ""))
        if key is None:
            return None
        try:
            image = self.prompt_cache.lookup(key)
            if image is None:
                return None
            response = prompt_image_response(image, True, environ, self.service.clock(),
                                             self.response_class, self.embedding_guarded)
        except (ArtproxyError, OSError):
            return None
        self.prompt_cache.count_hit()
        return response

    def error_response(self, error: ArtproxyError) -> Response:
        return error_response(error, self.response_class)


def image_name(path: str) -> str | None:
    """The ``<name>`` of a path the ``/images/<name>`` route matches, else None."""
    if not path.startswith(PREFIX):
        return None
    name = path[len(PREFIX):]
    # Empty or nested paths are not the route's; Flask answers them as unknown routes.
    return name if name and "/" not in name else None
