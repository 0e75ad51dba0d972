"""``GET /app``: the page people use to make, keep, embed and delete pictures.

The page is static (web/static/, served by Flask with ETag and revalidation) and talks to the
same JSON API as any client: /styles, /options, POST /jobs, GET /jobs/<id>, DELETE /images/<name>.
Its Content-Security-Policy lets it load and call nothing but artproxy itself, and run no
inline script, so a prompt shown on the page can never run as code.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app

from web.limits import unlimited

page = Blueprint("page", __name__)

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "connect-src 'self'",
    "manifest-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
])


@page.get("/app")
@unlimited
def app_page() -> Response:
    return current_app.send_static_file("app.html")


def with_page_policy(response: Response) -> Response:
    """Every HTML answer is one of artproxy's own pages (/app, /docs, or the same files under
    /static/, which served them without it), and each gets the page's policy."""
    if response.mimetype == "text/html":
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["Referrer-Policy"] = "no-referrer"
    return response
