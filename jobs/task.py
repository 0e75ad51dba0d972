"""What a job does, whichever runner runs it: the image ``GET /image`` would make, stored.

A runner keeps the outcome as plain JSON. It holds no delete token or URL: those are made by
whoever answers ``GET /jobs/<id>``, so a worker on another machine needs no secret.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from errors import ArtproxyError
from generator_client import UPSTREAM_PROGRESS, UpstreamProgress
from jobs import JobRequest, error_record
from logs import log_failure
from service import ImageService


def make_image(service: ImageService, request: JobRequest,
               report: Callable[[UpstreamProgress], None] | None = None) -> dict[str, Any]:
    """``{"result": {...}}`` when the image is stored, ``{"error": {...}}`` when it failed;
    ``report`` hears of the upstream's queue meanwhile, where it tells.

    Anything but an ArtproxyError is left to the runner: RQ's timeout, for one, arrives as an
    exception, and must not be recorded as an ordinary failure."""
    token = UPSTREAM_PROGRESS.set(report)
    try:
        rendered, stored = service.render_and_store(request.prompt, request.options)
    except ArtproxyError as error:
        log_failure(error, "job")
        return {"error": error_record(error)}
    finally:
        UPSTREAM_PROGRESS.reset(token)
    return {"result": {
        "name": stored.name,
        "expires_at": stored.expires_at,
        "mime": rendered.format.mime,
        "provider": rendered.provider,
        "width": rendered.width,
        "height": rendered.height,
    }}
