"""The original design, rebuilt as the benchmark's yardstick: Flask's development server,
one fresh upstream connection per request, the upstream image decoded and re-encoded as PNG
at Pillow's default settings, base64 in JSON. Not for use; only to measure against.

    python bench/seed_baseline.py --port 9100 --upstream http://127.0.0.1:9001/
"""

from __future__ import annotations

import argparse
import base64
import io

import requests
from flask import Flask, Response, jsonify, request
from PIL import Image


def create_seed_app(upstream_url: str) -> Flask:
    app = Flask(__name__)

    @app.get("/generate")
    def generate() -> Response:
        form = {"prompt": request.args.get("p", ""), "output_format": "bytes"}
        answer = requests.post(upstream_url, data=form)
        picture = Image.open(io.BytesIO(answer.content))
        buffer = io.BytesIO()
        picture.save(buffer, format="PNG")
        return jsonify(img=base64.b64encode(buffer.getvalue()).decode("ascii"))

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description="the seed-style baseline server")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    arguments = parser.parse_args()
    # Flask's development server, threaded as app.run() is by default.
    create_seed_app(arguments.upstream).run(host="127.0.0.1", port=arguments.port)


if __name__ == "__main__":
    main()
