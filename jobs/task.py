"""What a job does, whichever runner runs it: the image ``GET /image`` would make, stored.

A runner keeps the outcome as plain JSON. It holds no delete token or URL: those are made by
whoever answers ``GET /jobs/<id>``, so a worker on another machine needs no secret.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from accounts.charges import Charge
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
    exception, and must not be recorded as an ordinary failure. Either way the job's account,
    which paid one credit when the job was created, gets it back unless the image was made."""
    token = UPSTREAM_PROGRESS.set(report)
    charge = paid_charge(service, request)
    try:
        rendered, stored = service.render_and_store(request.prompt, request.options)
        if charge is not None:
            charge.made(request.prompt, request.options, rendered.provider, stored.name,
                        stored.expires_at)
    except ArtproxyError as error:
        log_failure(error, "job")
        return {"error": error_record(error)}
    finally:
        UPSTREAM_PROGRESS.reset(token)
        if charge is not None:
            charge.settle()
    return {"result": {
        "name": stored.name,
        "expires_at": stored.expires_at,
        "mime": rendered.format.mime,
        "provider": rendered.provider,
        "width": rendered.width,
        "height": rendered.height,
    }}


def paid_charge(service: ImageService, request: JobRequest) -> Charge | None:
    """The credit the job's account paid when it was created, to settle at its end."""
    if request.account_id is None or service.accounts is None:
        return None
    charge = Charge(service.accounts, request.account_id)
    charge.taken, charge.hold_id = 1, request.hold_id
    return charge
