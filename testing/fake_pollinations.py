"""Pollinations' image API as a real HTTP server on 127.0.0.1, written from its public API
documentation and server code (pollinations/pollinations): both bases, and the answers they give.

    GET /prompt/<prompt>?width&height&seed&model&nologo&referrer   the legacy base: anonymous
        callers one at a time per address; a second call while one is drawn gets 429 "Queue
        full" (JSON, no Retry-After)
    GET /image/<prompt>?...   the newer base: needs ``Authorization: Bearer <key>``; 401 without
        a known key, 402 for a key with no balance, in its error envelope
        ``{"status", "success": false, "error": {"code", "message", "timestamp"}}``

Every answer is a JPEG of the asked size after ``delay`` seconds. Calls are recorded, with the
most that were ever drawn at once.
"""

from __future__ import annotations

import io
import json
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import parse_qs, unquote, urlsplit

from PIL import Image

from testing.local_server import LocalServer


@dataclass
class Received:
    base: str  # "prompt" (legacy) or "image"
    prompt: str
    query: dict[str, str]
    headers: dict[str, str]


class FakePollinations(LocalServer):
    def __init__(self, delay: float = 0.0, keys: tuple[str, ...] = (),
                 broke_keys: tuple[str, ...] = ()):
        self.delay = delay
        self.keys = keys
        self.broke_keys = broke_keys
        self.received: list[Received] = []
        self.refused_busy = 0
        self.most_at_once = 0
        self._drawing = 0
        self._lock = threading.Lock()
        super().__init__()

    @property
    def url(self) -> str:
        return self.base()

    def base(self, newer: bool = False) -> str:
        return f"http://127.0.0.1:{self.port}/{'image' if newer else 'prompt'}"

    def answer(self, method: str, path: str, headers: dict[str, str],
               body: bytes) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(path)
        base, _, prompt = parts.path.lstrip("/").partition("/")
        query = {name: values[0] for name, values in parse_qs(parts.query).items()}
        with self._lock:
            self.received.append(Received(base, unquote(prompt), query, headers))
        if base == "image":
            key = headers.get("Authorization", "").removeprefix("Bearer ")
            if key in self.broke_keys:
                return envelope(402, "PAYMENT_REQUIRED", "Insufficient pollen balance")
            if key not in self.keys:
                return envelope(401, "UNAUTHORIZED", "Authentication required. Please provide "
                                "an API key via Authorization header (Bearer token) or ?key= "
                                "query parameter.")
        elif base != "prompt":
            return 404, {"Content-Type": "text/plain"}, b"Not found"
        with self._lock:
            if base == "prompt" and self._drawing >= 1:
                self.refused_busy += 1
                return queue_full()
            self._drawing += 1
            self.most_at_once = max(self.most_at_once, self._drawing)
        try:
            time.sleep(self.delay)
            size = (int(query.get("width", 1024)), int(query.get("height", 1024)))
            buffer = io.BytesIO()
            Image.new("RGB", size, (200, 120, 40)).save(buffer, format="JPEG")
            return 200, {"Content-Type": "image/jpeg"}, buffer.getvalue()
        finally:
            with self._lock:
                self._drawing -= 1


def envelope(status: int, code: str, message: str) -> tuple[int, dict[str, str], bytes]:
    timestamp = datetime.now(timezone.utc).isoformat()
    return status, {"Content-Type": "application/json"}, json.dumps(
        {"status": status, "success": False,
         "error": {"code": code, "message": message, "timestamp": timestamp}}).encode()


def queue_full() -> tuple[int, dict[str, str], bytes]:
    message = ("Queue full for IP: 127.0.0.1: 1 requests already queued (max: 1). Get a key at "
               "https://enter.pollinations.ai for higher limits.")
    return 429, {"Content-Type": "application/json"}, json.dumps(
        {"error": "Queue full", "message": message, "details": {}, "queueInfo": {
            "ip": "127.0.0.1", "queued": 1, "max": 1}}).encode()
