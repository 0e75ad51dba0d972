"""Liveness (``GET /``) and readiness (``GET /healthz``)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue

import cleanup
from errors import StorageUnavailable
from web.limits import unlimited
from web.responses import no_store, service

health = Blueprint("health", __name__)
NOT_CHECKED = "Not checked while storage is unavailable"


@health.get("/")
@unlimited
def alive() -> dict[str, str]:
    return {"status": "Server is alive"}


@health.get("/healthz")
@unlimited
def readiness() -> ResponseReturnValue:
    """200 while images can be stored and served and the shared state written; 503 while
    either is unusable."""
    store = service().store
    storage = {"kind": store.kind, "reachable": True}
    try:
        store.check()
    except StorageUnavailable as error:
        storage.update(reachable=False, error=error.message)
    if not store.needs_sweeping:
        sweeper = "not needed"  # the store expires images itself
    elif not current_app.config["SWEEP_ENABLED"]:
        sweeper = "off"
    else:
        sweeper = "running" if cleanup.scheduler_running() else "stopped"
    # With Redis the shared state is in the same Redis: asking it again would only add the
    # timeouts of a stalled one to the answer.
    shared = state() if storage["reachable"] else {
        "writable": None, "error": NOT_CHECKED}
    ready = bool(storage["reachable"] and shared["writable"])
    body = {"status": "ready" if ready else "unavailable", "storage": storage, "state": shared,
            "sweeper": sweeper, "providers": provider_states(), "jobs": job_states(),
            "prompt_cache": prompt_cache_state() if storage["reachable"] else {
                "error": NOT_CHECKED}}
    return no_store(jsonify(body)), 200 if ready else 503


def state() -> dict[str, Any]:
    """Whether what the instance's processes share (jobs, rate-limit counters, breakers) takes
    a write now: a state folder gone read-only or full, or Redis refusing writes."""
    try:
        current_app.extensions["artproxy_jobs"].check()
    except StorageUnavailable as error:
        return {"writable": False, "error": error.message}
    counters = service().counters
    if counters is not None and not counters.check():
        return {"writable": False, "error": "The shared counters cannot be written"}
    return {"writable": True}


def prompt_cache_state() -> dict[str, Any] | str:
    """Pictures kept for prompt URLs, and hits and misses so far (every process's)."""
    if not current_app.config["PROMPT_URLS"]:
        return "off"
    try:
        return current_app.extensions["artproxy_prompt_cache"].stats()
    except StorageUnavailable as error:
        return {"error": error.message}


def job_states() -> dict[str, Any]:
    """Jobs by status and who runs them. No RQ worker listening is shown, not a failure: the
    instance still serves everything else."""
    queue = current_app.extensions["artproxy_jobs"]
    try:
        return {**queue.counts(), **queue.runners()}
    except StorageUnavailable as error:
        return {"error": error.message}


def provider_states() -> dict[str, dict]:
    """Each provider's breaker: closed (in use), open (skipped after failures) or half-open
    (the next call is a trial), with its failures in a row; and where its calls are limited,
    how many are in flight and waiting."""
    states = {}
    for breaker in service().breakers:
        try:
            state, failures = breaker.status()
            states[breaker.name] = {"state": state, "failures_in_a_row": failures}
        except Exception:  # the shared counters are unreachable: say so, do not fail readiness
            states[breaker.name] = {"state": "unknown", "failures_in_a_row": None}
        turns = service().turns.get(breaker.name)
        if turns is not None:  # ARTPROXY_<PROVIDER>_CONCURRENCY
            states[breaker.name]["calls"] = {"limit": turns.turns, "in_flight": turns.in_flight(),
                                             "waiting": turns.waiting()}
    return states
