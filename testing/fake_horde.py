"""AI Horde's API v2 as a real HTTP server on 127.0.0.1, written from its public reference and
server code (Haidra-Org/AI-Horde): the request flow, field names, status codes and
``{"message", "rc"}`` error bodies as the Horde sends them.

    POST   /api/v2/generate/async        202 {"id", "kudos"}; 400 validation, 403 KudosUpfront
                                         for an anonymous key above 1024x1024, 429 TooManyPrompts
    GET    /api/v2/generate/check/<id>   {"finished", "processing", "restarted", "waiting",
                                          "done", "faulted", "wait_time", "queue_position",
                                          "kudos", "is_possible"}; 404 RequestNotFound
    GET    /api/v2/generate/status/<id>  the same and "generations": [{"img", "seed", "id",
                                          "censored", "worker_id", "worker_name", "model",
                                          "state", "gen_metadata"}]
    DELETE /api/v2/generate/status/<id>  200, the status; the request leaves the queue
    GET    /r2/<id>.webp                 the picture, where "img" points with r2 on

How each request goes is set by ``script`` before it is made: checks before it is done, and
whether it faults, is censored, or points its image elsewhere. Every call is recorded.
"""

from __future__ import annotations

import base64
import io
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from testing.local_server import LocalServer

ANONYMOUS_KEY = "0000000000"


@dataclass
class Script:
    """How the next requests go."""

    checks_before_done: int = 2  # each check moves the request one place up the queue
    faulted: bool = False
    censored: bool = False
    image_url: str | None = None  # where "img" points instead of the fake's own /r2/
    base64_image: bool = False  # "img" is the picture itself, as with r2 off
    busy: bool = False  # POST answers 429 TooManyPrompts


@dataclass
class HordeRequest:
    id: str
    body: dict[str, Any]
    headers: dict[str, str]
    script: Script
    checks: list[float] = field(default_factory=list)  # monotonic times of each check
    status_reads: int = 0
    withdrawn: bool = False

    @property
    def done(self) -> bool:
        return len(self.checks) > self.script.checks_before_done


@dataclass
class Call:
    method: str
    path: str


class FakeHorde(LocalServer):
    def __init__(self) -> None:
        self.script = Script()
        self.requests: dict[str, HordeRequest] = {}
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        super().__init__()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def only_request(self) -> HordeRequest:
        assert len(self.requests) == 1, list(self.requests)
        return next(iter(self.requests.values()))

    def answer(self, method: str, path: str, headers: dict[str, str],
               body: bytes) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            self.calls.append(Call(method, path))
        if method == "POST" and path == "/api/v2/generate/async":
            return self._submit(headers, body)
        if path.startswith("/r2/"):
            found = self.requests.get(path[len("/r2/"):].removesuffix(".webp"))
            if found is None:
                return 404, {}, b""
            return 200, {"Content-Type": "image/webp"}, picture(found)
        for prefix in ("/api/v2/generate/check/", "/api/v2/generate/status/"):
            if path.startswith(prefix):
                found = self.requests.get(path[len(prefix):])
                if found is None:
                    return error(404, "Request Not found", "RequestNotFound")
                return self._progress(found, method, with_generations="status" in prefix)
        return error(404, "Not found", "NotFound")

    def _submit(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        if not headers.get("apikey"):
            return error(401, "No API key sent", "InvalidAPIKey")
        if self.script.busy:
            return error(429, "Parallel requests exceeded user limit", "TooManyPrompts",
                         {"Retry-After": "7"})
        request = json.loads(body)
        params = request.get("params", {})
        problems = {f"params.{side}": f"{params.get(side)} is not a multiple of 64"
                    for side in ("width", "height")
                    if not isinstance(params.get(side, 512), int) or params.get(side, 512) % 64
                    or not 64 <= params.get(side, 512) <= 3072}
        if problems:
            return 400, {"Content-Type": "application/json"}, json.dumps(
                {"errors": problems, "message": "Input payload validation failed"}).encode()
        if not request.get("prompt"):
            return error(400, "You cannot specify an empty prompt.", "MissingPrompt")
        pixels = params.get("width", 512) * params.get("height", 512)
        if headers.get("apikey") == ANONYMOUS_KEY and pixels > 1024 * 1024:
            return error(403, "Due to heavy demand, for requests over 1024x1024 or over 50 steps, "
                              "the client needs to already have the required kudos.",
                         "KudosUpfront")
        made = HordeRequest(str(uuid.uuid4()), request, headers, self.script)
        self.requests[made.id] = made
        return 202, {"Content-Type": "application/json"}, json.dumps(
            {"id": made.id, "kudos": 10}).encode()

    def _progress(self, request: HordeRequest, method: str,
                  with_generations: bool) -> tuple[int, dict[str, str], bytes]:
        if method == "DELETE":
            request.withdrawn = True
        elif with_generations:
            request.status_reads += 1
        else:
            request.checks.append(time.monotonic())
        done = request.done and not request.withdrawn
        position = max(0, request.script.checks_before_done - len(request.checks))
        state: dict[str, Any] = {
            "finished": int(done and not request.script.faulted), "processing": 0,
            "restarted": 0, "waiting": int(not done), "done": done,
            "faulted": done and request.script.faulted, "wait_time": 4 * position,
            "queue_position": position, "kudos": 10.0, "is_possible": True}
        if with_generations:
            state["shared"] = False
            state["generations"] = [generation(request, self.url)] if done else []
        return 200, {"Content-Type": "application/json"}, json.dumps(state).encode()


def error(status: int, message: str, rc: str,
          headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(
        {"message": message, "rc": rc}).encode()


def picture(request: HordeRequest) -> bytes:
    params = request.body.get("params", {})
    buffer = io.BytesIO()
    Image.new("RGB", (params.get("width", 512), params.get("height", 512)),
              (90, 140, 60)).save(buffer, format="WEBP")
    return buffer.getvalue()


def generation(request: HordeRequest, api_url: str) -> dict[str, Any]:
    if request.script.base64_image:
        img = base64.b64encode(picture(request)).decode()
    else:
        img = request.script.image_url or f"{api_url.removesuffix('/api')}/r2/{request.id}.webp"
    metadata = ([{"type": "censorship", "value": "nsfw"}] if request.script.censored else [])
    return {"img": img, "seed": request.body.get("params", {}).get("seed", "3141592"),
            "id": str(uuid.uuid4()), "censored": request.script.censored,
            "worker_id": str(uuid.uuid4()), "worker_name": "fake worker",
            "model": "stable_diffusion", "state": "ok", "gen_metadata": metadata}
