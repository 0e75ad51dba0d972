"""What a job does, whichever runner runs it: the image ``GET /image`` would make, stored.

A runner keeps the outcome as plain JSON. It holds no delete token or URL: those are made by
whoever answers ``GET /jobs/<id>``, so a worker on another machine needs no secret. Once the
runner knows whether its outcome was kept, settle_job() pays for the job's account.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from accounts.charges import chosen_options
from errors import ArtproxyError
from generator_client import UPSTREAM_PROGRESS, UpstreamProgress
from jobs import JobRequest, error_record
from logs import log_failure
from service import ImageService

log = logging.getLogger("artproxy")


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


def settle_job(service: ImageService, request: JobRequest,
               kept: Mapping[str, Any] | None) -> None:
    """The job's account, which paid one credit when the job was made, keeps the image in its
    history if ``kept`` (the outcome its caller will be told) holds one, and gets the credit
    back otherwise. Taking the job's hold first makes this happen once: not again after the
    accounts' sweep gave up on the job, nor for an account deleted meanwhile."""
    if request.hold_id is None or request.account_id is None:
        return
    accounts = service.accounts
    if accounts is None:
        log.warning("a job paid by an account ran where no accounts are configured: start "
                    "`python main.py worker` with the server's ARTPROXY_SIGNIN_* and "
                    "ARTPROXY_DATABASE_URL (its credit is given back by the sweep)")
        return
    if not accounts.release_hold(request.hold_id):
        return
    made = kept.get("result") if kept else None
    if made:
        accounts.record_generation(request.account_id, request.prompt,
                                   chosen_options(request.options), made["provider"],
                                   made["name"], made["expires_at"])
    else:
        accounts.refund(request.account_id, 1)
