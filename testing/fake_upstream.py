"""A real HTTP server on 127.0.0.1 that plays an image generator (MagicStudio, Pollinations or
OpenAI alike: it answers any GET or POST), one scripted answer at a time."""

from __future__ import annotations

import email
import email.policy
import io
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from PIL import Image

from testing.local_server import LocalServer


def jpeg_bytes(size: tuple[int, int] = (64, 48),
               color: tuple[int, int, int] = (200, 80, 40)) -> bytes:
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    image.paste(color, (0, 0, size[0] // 2, size[1] // 2))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def png_bytes(size: tuple[int, int] = (40, 30),
              color: tuple[int, int, int] = (10, 120, 200)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


@dataclass
class Answer:
    status: int = 200
    body: bytes = field(default_factory=jpeg_bytes)
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "image/jpeg"})
    delay: float = 0.0  # seconds before the status line
    declared_length: int | None = None  # a Content-Length larger than the body: the transfer breaks
    trickle_seconds: float = 0.0  # pause between 100-byte pieces of the body


@dataclass
class ReceivedRequest:
    path: str  # with its query string
    headers: dict[str, str]
    fields: dict[str, str]  # multipart form fields, if the body was a form
    method: str = "POST"
    body: bytes = b""
    peer: tuple[str, int] = ("", 0)  # the caller's address and port: one per connection

    def json(self) -> Any:
        return json.loads(self.body)


class FakeUpstream(LocalServer):
    def __init__(self) -> None:
        self.answers: deque[Answer] = deque()
        self.default_answer = Answer()
        self.received: list[ReceivedRequest] = []
        self._lock = threading.Lock()
        super().__init__()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/ai-art-generator"

    def will_answer(self, *answers: Answer) -> None:
        self.answers.extend(answers)

    def _next_answer(self, request: ReceivedRequest) -> Answer:
        with self._lock:
            self.received.append(request)
            return self.answers.popleft() if self.answers else self.default_answer

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else each answer waits 40 ms for a delayed ACK

            def do_GET(self) -> None:
                self.do_POST()

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                answer = upstream._next_answer(ReceivedRequest(
                    path=self.path,
                    headers=dict(self.headers.items()),
                    fields=parse_multipart(self.headers.get("Content-Type", ""), body),
                    method=self.command,
                    body=body,
                    peer=self.client_address,
                ))
                time.sleep(answer.delay)
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(answer.declared_length or len(answer.body)))
                self.end_headers()
                self._write_body(answer)
                if answer.declared_length:
                    self.close_connection = True

            def _write_body(self, answer: Answer) -> None:
                if not answer.trickle_seconds:
                    self.wfile.write(answer.body)
                    return
                for start in range(0, len(answer.body), 100):
                    self.wfile.write(answer.body[start:start + 100])
                    self.wfile.flush()
                    time.sleep(answer.trickle_seconds)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def parse_multipart(content_type: str, body: bytes) -> dict[str, str]:
    if not content_type.startswith("multipart/form-data"):
        return {}
    message = email.message_from_bytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body, policy=email.policy.HTTP
    )
    fields = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            # File parts (an edit's image) are binary: kept readable, the raw body has the bytes.
            fields[name] = payload.decode("utf-8", "replace")
    return fields
