"""``"stream": true``: the answer as OpenAI's server-sent events.

    event: image_generation.partial_image    (image_edit.partial_image for edits)
    data: {"type": "image_generation.partial_image", "b64_json", "partial_image_index", ...}

    event: image_generation.completed        (one per picture)
    data: {"type": "image_generation.completed", "b64_json", "created_at", "size", ...}

A provider whose upstream streams (openai with a gpt-image model) gives partial pictures; the
others give only the completed one, which OpenAI's reference allows. A comment line goes out
every ARTPROXY_STREAM_KEEPALIVE seconds while nothing else does, so proxies that cut idle
connections keep the stream open. A failure once the stream has begun is an ``error`` event in
OpenAI's shape, and the stream ends. The request was checked and counted against limits and
quotas before its first byte, like any other.
"""

from __future__ import annotations

import contextvars
import json
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from flask import Response, current_app, request

from accounts.charges import Charge
from errors import ArtproxyError
from logs import log_failure
from service import ImageService, PartialsWanted, RenderedImage
from web.charging import current_charge, made
from web.openai_v1.answers import b64_data, described, stored_data, stored_if_asked
from web.openai_v1.errors import openai_error
from web.openai_v1.fields import ImagesRequest
from web.responses import service

log = logging.getLogger("artproxy")


@dataclass(frozen=True)
class Drawn:
    pictures: list[RenderedImage]


@dataclass(frozen=True)
class Partial:
    picture: RenderedImage


@dataclass(frozen=True)
class Failed:
    error: ArtproxyError


def event_stream(draw: Callable[[PartialsWanted | None], list[RenderedImage]],
                 asked: ImagesRequest, event_prefix: str) -> Response:
    """Start drawing now, and answer with the events as they come."""
    outcomes: queue.Queue[Drawn | Partial | Failed] = queue.Queue()
    partials = PartialsWanted(asked.partial_images, lambda picture: outcomes.put(Partial(picture)))
    where = f"{request.method} {request.path} (streamed)"

    def drawing() -> None:
        try:
            outcomes.put(Drawn(draw(partials)))
        except Exception as error:
            outcomes.put(Failed(reported(error, where)))

    # A greenlet under gevent; its context carries the request id into the log.
    context = contextvars.copy_context()
    threading.Thread(target=context.run, args=(drawing,), daemon=True).start()
    charge = current_charge()
    if charge is not None:
        charge.settles_later = True  # once the pictures are sent: Events.sent()
    events = Events(asked, event_prefix, service(), request.host_url,
                    current_app.config["STREAM_KEEPALIVE"], where, charge)
    return Response(events.sent(outcomes), mimetype="text/event-stream", headers={
        "Cache-Control": "no-store",
        "X-Accel-Buffering": "no",  # nginx passes each event on at once
    })


@dataclass(frozen=True)
class Events:
    asked: ImagesRequest
    prefix: str  # image_generation or image_edit
    drawing: ImageService
    host_url: str
    keepalive_seconds: float
    where: str  # the request, for the log
    charge: Charge | None  # the account's, paid for every picture this stream sends

    def sent(self, outcomes: queue.Queue[Drawn | Partial | Failed]) -> Iterator[str]:
        """The events; whatever fails on the way (storing a picture for ``url``) is the last.
        Pictures not sent (a failure, a caller gone) are given back to the account."""
        try:
            yield from self.events(outcomes)
        except Exception as error:
            yield error_event(reported(error, self.where))
        finally:
            if self.charge is not None:
                self.charge.settle()

    def events(self, outcomes: queue.Queue[Drawn | Partial | Failed]) -> Iterator[str]:
        partials_sent = 0
        while True:
            try:
                outcome = outcomes.get(timeout=self.keepalive_seconds)
            except queue.Empty:
                yield ": drawing\n\n"
                continue
            if isinstance(outcome, Partial):
                yield self.event("partial_image", outcome.picture,
                                 partial_image_index=partials_sent)
                partials_sent += 1
            elif isinstance(outcome, Drawn):
                for picture in outcome.pictures:
                    yield self.event("completed", picture)
                return
            else:
                yield error_event(outcome.error)
                return

    def event(self, kind: str, picture: RenderedImage, **extra: Any) -> str:
        data = b64_data(picture)
        if kind == "completed":
            stored = stored_if_asked(picture, self.asked, self.drawing)
            made(self.charge, self.asked.prompt, self.asked.options, picture, stored)
            if stored is not None:
                data.update(stored_data(stored, self.drawing, self.host_url))
        elif self.charge is not None:
            # A partial picture is the upstream's work, shown: it is paid for like a picture,
            # even if the stream then fails or its caller leaves.
            self.charge.partial_sent = True
        name = f"{self.prefix}.{kind}"
        return sse(name, {"type": name, **data, "created_at": int(self.drawing.clock()),
                          **described(picture, self.asked), **extra})


def reported(error: Exception, where: str) -> ArtproxyError:
    """``error`` logged as the web layer logs a failure, and as the ArtproxyError to send."""
    if isinstance(error, ArtproxyError):
        log_failure(error, where)
        return error
    log.exception("%s failed", where)
    return ArtproxyError()


def error_event(error: ArtproxyError) -> str:
    return sse("error", {"type": "error", "error": openai_error(error)})


def sse(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"
