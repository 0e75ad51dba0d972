"""A stand-in for the art generator: answers every request with the same image after a delay.

One asyncio process, so a thousand waiting requests cost a thousand small objects, not threads,
and the upstream is never what the benchmark measures. It reads each request in full (headers
and Content-Length body), waits, answers, and keeps the connection open for the next request.
With --openai it plays OpenAI's images API instead: the image in base64 in OpenAI's JSON.

    python -m testing.load_upstream --port 9001 --delay 2 --image small.jpg
    python -m testing.load_upstream --port 9001 --delay 0 --image small.png --openai
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import mimetypes
import time
from pathlib import Path


def answer_head(body: bytes, mime: str) -> bytes:
    return (f"HTTP/1.1 200 OK\r\nContent-Type: {mime}\r\nContent-Length: {len(body)}\r\n"
            "Connection: keep-alive\r\n\r\n").encode("ascii")


async def serve_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                           answer: bytes, delay: float) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            await asyncio.sleep(delay)
            writer.write(answer)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass  # the client closed the connection; that ends this conversation
    finally:
        writer.close()


def openai_body(image: bytes) -> bytes:
    # One "created" for the whole run: the answer is built once, so serving it costs nothing.
    return json.dumps({"created": int(time.time()),
                       "data": [{"b64_json": base64.b64encode(image).decode("ascii")}]}).encode()


async def serve(port: int, delay: float, image: Path, openai: bool) -> None:
    body = image.read_bytes()
    mime = mimetypes.guess_type(image.name)[0] or "application/octet-stream"
    if openai:
        body, mime = openai_body(body), "application/json"
    answer = answer_head(body, mime) + body
    server = await asyncio.start_server(
        lambda reader, writer: serve_connection(reader, writer, answer, delay),
        host="127.0.0.1", port=port, backlog=4096, limit=1 << 20)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--image", type=Path, required=True, help="the file every answer carries")
    parser.add_argument("--openai", action="store_true",
                        help="answer as OpenAI's images API: the image as b64_json in JSON")
    arguments = parser.parse_args()
    try:
        asyncio.run(serve(arguments.port, arguments.delay, arguments.image, arguments.openai))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
