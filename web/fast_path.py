"""Stored images without Flask's request machinery, for the requests that make up most traffic.

A page that embeds artproxy images sends one plain GET per <img>. Serving those below Flask
(no request context, routing, or after-request hooks) raised the stored-image rate by about
13% in bench/ target 3. Missing and expired images get the route's 404 JSON after a single
lookup. Anything else goes on to the Flask app: every request that carries an Origin header
(CORS), and while ARTPROXY_EMBED_ORIGINS limits who may embed, every request the guard would
look at (one with a Referer, or, when one is required, one without).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from flask import Response

from errors import ArtproxyError, ImageNotFound
from service import ImageService
from web.errors import error_response
from web.images import stored_image_response
from web.responses import add_security_headers

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

PREFIX = "/images/"


class StoredImageFastPath:
    def __init__(self, wsgi_app: WSGIApplication, service: ImageService, cors_enabled: bool,
                 response_class: type[Response], embedding_guarded: bool = False,
                 referer_required: bool = False):
        self.wsgi_app = wsgi_app
        # Requests the embedding guard (web/access.py) must look at go on to Flask.
        self.embedding_guarded = embedding_guarded
        self.referer_required = referer_required
        self.service = service
        self.cors_enabled = cors_enabled
        self.response_class = response_class

    def __call__(self, environ: WSGIEnvironment,
                 start_response: StartResponse) -> Iterable[bytes]:
        name = plain_image_request(environ)
        if name is None or (self.embedding_guarded and (
                "HTTP_REFERER" in environ or self.referer_required)):
            return self.wsgi_app(environ, start_response)
        try:
            # The store checks the name against the exact pattern before any storage access.
            stored = self.service.store.get(name)
            if stored is None:
                raise ImageNotFound()
            response = stored_image_response(stored, environ, self.service.clock(),
                                             self.response_class)
        except FileNotFoundError:  # swept between the lookup and the open
            response = self.error_response(ImageNotFound())
        except ArtproxyError as error:  # storage unreachable: the JSON Flask would send
            response = self.error_response(error)
        except OSError:
            return self.wsgi_app(environ, start_response)  # let Flask log it and answer 500
        add_security_headers(response)
        if self.cors_enabled:
            # The answer differs for requests with an Origin; shared caches must know.
            response.vary.add("Origin")
        return response(environ, start_response)

    def error_response(self, error: ArtproxyError) -> Response:
        return error_response(error, self.response_class)


def plain_image_request(environ: WSGIEnvironment) -> str | None:
    """The image name of a GET for ``/images/<name>`` without an Origin header, else None."""
    if environ.get("REQUEST_METHOD") != "GET" or "HTTP_ORIGIN" in environ:
        return None
    return image_name(environ.get("PATH_INFO", ""))


def image_name(path: str) -> str | None:
    """The ``<name>`` of a path the ``/images/<name>`` route matches, else None."""
    if not path.startswith(PREFIX):
        return None
    name = path[len(PREFIX):]
    # Empty or nested paths are not the route's; Flask answers them as unknown routes.
    return name if name and "/" not in name else None
