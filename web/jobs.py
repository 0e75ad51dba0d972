"""``POST /jobs`` queues what ``GET /image`` makes; ``GET /jobs/<id>`` says how it is going.

Creating a job costs what ``/image`` costs (key, rate limit, quota); reading one costs nothing,
since a page polls it every second or so. The id, 128 random bits, is what lets a caller read
a job, as an image's name is what lets it load the image.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from flask_limiter.util import get_remote_address

from clock import iso_time
from errors import BadInput, BadOption, JobNotFound
from jobs import DONE, FAILED, STATUSES, JobQueue, JobRequest, JobState
from jobs.job_news import Listener
from options import checked_prompt, option_names, options_from_json
from web.access import presented_key
from web.bodies import json_body
from web.charging import current_charge
from web.identity import require_premium_key
from web.limits import generating, per_key_quota, unlimited
from web.responses import no_store, stored_image_json

jobs = Blueprint("jobs", __name__)

LONGEST_WAIT_SECONDS = 30
# ?wait looks again this often at first, then less often: quick answers for quick jobs without
# a read per waiting caller every few milliseconds.
FIRST_LOOK_SECONDS, LAST_LOOK_SECONDS = 0.01, 0.5


def job_queue() -> JobQueue:
    return current_app.extensions["artproxy_jobs"]


@jobs.post("/jobs")
@generating
@per_key_quota
@require_premium_key
def create_job() -> Response:
    if not request.is_json:
        raise BadInput("Send the job as JSON, with 'Content-Type: application/json'")
    fields = json_body()
    if not isinstance(fields, dict):
        raise BadInput("The body must be a JSON object with at least a prompt")
    unknown = sorted(set(fields) - {"prompt", *option_names()})
    if unknown:
        raise BadInput(f"Unknown field {unknown[0]!r}; a job takes prompt and "
                       f"{', '.join(option_names())}")
    prompt = checked_prompt(fields.get("prompt"), current_app.config["MAX_PROMPT_CHARS"],
                            "prompt is required")
    options = options_from_json(fields, current_app.config["PROVIDER"])
    charge = current_charge()
    paid = JobRequest(prompt, options)
    if charge is not None:  # held until the job ends, in whichever process runs it
        paid = JobRequest(prompt, options, charge.account_id, charge.hold_for_job())
    state = job_queue().submit(paid, client_id())
    if charge is not None:
        charge.settles_later = True  # by the job's runner, when it ends (jobs/task.py)
    response = jsonify(job_json(state))
    response.status_code = 202
    response.headers["Location"] = f"/jobs/{state.id}"
    return no_store(response)


@jobs.get("/jobs/<job_id>")
@unlimited
def job_status(job_id: str) -> Response:
    wait_seconds = read_wait()
    seen = read_seen()
    # Listening from before the first read: a change just after it is heard, not missed.
    with job_queue().listening(job_id) as news:
        state = job_queue().get(job_id)
        if state is None:
            raise JobNotFound()
        # Wait only while the job is as the caller last saw it (as it is now, if it does not
        # say), and never for an ended job, which changes no more.
        if wait_seconds and state.status not in (DONE, FAILED) and seen in (None, state.status):
            state = wait_for_change(news, state, wait_seconds)
    return no_store(jsonify(job_json(state)))


def client_id() -> str:
    """Whose job this is, for ARTPROXY_MAX_JOBS_PER_CLIENT: the key when keys are set, else the
    address (ProxyFix's, behind trusted proxies); hashed, so the job store holds neither."""
    who = (f"key:{presented_key()}" if current_app.config["PREMIUM_KEYS"]
           else f"address:{get_remote_address()}")
    return hashlib.sha256(who.encode("utf-8")).hexdigest()[:32]


def read_wait() -> float:
    raw = request.args.get("wait")
    if raw is None:
        return 0
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1
    if not 0 <= seconds <= LONGEST_WAIT_SECONDS:
        raise BadOption("invalid_wait", f"wait must be a number of seconds from 0 to "
                                        f"{LONGEST_WAIT_SECONDS}; got {raw!r}", "wait")
    return seconds


def read_seen() -> str | None:
    """``after``: the status the caller last saw. Without it a poll that arrives just after a
    job started would wait for the job's end and the caller would never see it running."""
    seen = request.args.get("after")
    if seen is not None and seen not in STATUSES:
        raise BadOption("invalid_after",
                        f"after must be one of {', '.join(STATUSES)}; got {seen!r}", "after")
    return seen


def wait_for_change(news: Listener, state: JobState, seconds: float) -> JobState:
    """The job once its status is no longer ``state.status``, or as it is after ``seconds``."""
    give_up = time.monotonic() + seconds
    # A queue that surely hears of every change (RQ's, subscribed) ends the pause at once: its
    # looks are only a fallback.
    pause = LAST_LOOK_SECONDS if news.reliable else FIRST_LOOK_SECONDS
    while time.monotonic() < give_up:
        # Under gevent, a greenlet's pause: the worker serves others meanwhile.
        news.wait(min(pause, max(0.0, give_up - time.monotonic())))
        pause = min(pause * 2, LAST_LOOK_SECONDS)
        now = job_queue().get(state.id)
        if now is None:
            raise JobNotFound()
        if now.status != state.status:
            return now
        state = now
    return state


def job_json(state: JobState) -> dict[str, Any]:
    result = None
    if state.status == DONE and state.result:
        made = state.result
        result = stored_image_json(made["name"], made["expires_at"], made["mime"], made["provider"],
                                   made["width"], made["height"])
    return {
        "id": state.id,
        "status": state.status,
        "status_url": f"/jobs/{state.id}",
        "position": state.position,
        "created_at": iso_time(state.created_at),
        "started_at": iso_time(state.started_at) if state.started_at is not None else None,
        "finished_at": iso_time(state.finished_at) if state.finished_at is not None else None,
        "result": result,
        "error": state.error,
        "progress": state.progress,
    }
