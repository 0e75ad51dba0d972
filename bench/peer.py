"""Target L: artproxy's OpenAI-compatible API against LiteLLM's proxy, a real peer.

Both stand, with 2 worker processes each, in front of the same fake OpenAI upstream
(testing/load_upstream.py --openai, a 256x256 PNG in base64, no delay) and get the same
POST /v1/images/generations from hey. LiteLLM runs from a virtualenv of its own,
.venv-bench-litellm (bench/run makes it): its proxy extra wants python-dateutil 2 (through
boto3) and another openai than artproxy pins. Nothing leaves the machine: LiteLLM reads the
cost map it ships, sends no telemetry, and has no master key and no database.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from unittest import mock

from bench.load import Batch, hey
from bench.processes import PROJECT_DIR, Server, free_port, python_command
from bench.scenarios import PRODUCTION, Row, ServerSetup, start_artproxy

LITELLM = PROJECT_DIR / ".venv-bench-litellm" / "bin" / "litellm"
WORKERS = 2
MODEL = "gpt-image-1"
BODY = json.dumps({"model": MODEL, "prompt": "a lighthouse at dusk", "size": "256x256",
                   "response_format": "b64_json"}).encode()
# What OpenAI's SDK sends; neither side checks it here (no premium keys, no master key).
HEADERS = {"Authorization": "Bearer sk-bench"}
LOADS = ((8, 2000), (200, 4000))  # (clients, requests in each round)
ROUNDS = 2
COLD_REQUESTS = 400
# gpt-image-1 takes no response_format at OpenAI, and LiteLLM refuses it with a 400 unless
# told to drop what the model does not take; artproxy accepts it, so both get the same body.
LITELLM_CONFIG = """\
model_list:
  - model_name: {model}
    litellm_params:
      model: openai/{model}
      api_base: {api_base}
      api_key: sk-bench
litellm_settings:
  drop_params: true
"""


class LiteLLMServer(Server):
    """LiteLLM's proxy, ready once every worker has started: on 2 cores its imports take 15 to
    40 s, past Server's 30 s, and uvicorn's first worker answers while the second still loads."""

    def _wait_until_ready(self, port: int, ready_path: str | None, seconds: float = 180) -> None:
        give_up = time.monotonic() + seconds
        super()._wait_until_ready(port, ready_path, seconds)
        while Path(self.log.name).read_text().count("Application startup complete") < WORKERS:
            if self.process.poll() is not None or time.monotonic() > give_up:
                raise RuntimeError(f"{self.name}'s workers did not all start; see {self.log.name}")
            time.sleep(0.5)


def start_openai_upstream(picture: Path) -> Server:
    port = free_port()
    return Server("upstream-openai", python_command(
        "-m", "testing.load_upstream", "--port", str(port), "--delay", "0",
        "--image", str(picture), "--openai"), port, ready_path=None)


def start_litellm(upstream: Server, folder: Path) -> Server:
    config = folder / "litellm.yaml"
    config.write_text(LITELLM_CONFIG.format(model=MODEL, api_base=upstream.url + "/v1"))
    port = free_port()
    command = [str(LITELLM), "--config", str(config), "--host", "127.0.0.1", "--port", str(port),
               "--num_workers", str(WORKERS), "--telemetry", "False"]
    # Without it LiteLLM fetches its model cost map from GitHub at every start.
    env = {"LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    return LiteLLMServer("litellm", command, port, env=env, ready_path="/health/liveliness",
                         cwd=folder)


def generations(server: Server, requests: int, clients: int, all_ok: bool = True) -> Batch:
    batch = hey(server.url + "/v1/images/generations", requests, clients, method="POST",
                body=BODY, content_type="application/json", headers=HEADERS)
    if all_ok and batch.ok != requests:
        raise RuntimeError(f"{server.name} /v1/images/generations: {requests - batch.ok} of "
                           f"{requests} answers were not 200; see {server.log.name}")
    return batch


def joined(batches: list[Batch]) -> Batch:
    """Rounds as one batch: all their latencies, and their seconds added up."""
    return Batch(latencies=[latency for batch in batches for latency in batch.latencies],
                 statuses=[status for batch in batches for status in batch.statuses],
                 seconds=sum(batch.seconds for batch in batches))


def litellm_peer(picture: Path, setup: ServerSetup = PRODUCTION) -> list[Row]:
    rows = []
    with start_openai_upstream(picture) as upstream, \
            tempfile.TemporaryDirectory() as config_dir, \
            tempfile.TemporaryDirectory() as image_dir, \
            start_litellm(upstream, Path(config_dir)) as litellm:
        # start_artproxy passes on ARTPROXY_* settings only; gunicorn.conf.py reads the worker
        # count from WEB_CONCURRENCY, which the child inherits.
        with mock.patch.dict(os.environ, WEB_CONCURRENCY=str(WORKERS)):
            artproxy = start_artproxy(setup, upstream, Path(image_dir), PROVIDER="openai",
                                      OPENAI_BASE_URL=upstream.url + "/v1",
                                      OPENAI_API_KEY="sk-bench")
        with artproxy:
            # Warm-up (connections, pools, first-call work), counted rather than required:
            # a failure at a cold start is a row of its own, not a reason to have no figures.
            cold = {server.name: generations(server, COLD_REQUESTS, 200, all_ok=False).ok
                    for server in (artproxy, litellm)}
            rows.append(Row("L", f"cold start, first {COLD_REQUESTS} requests from 200 clients: "
                                 "answers 200", f"{cold['artproxy']}/{COLD_REQUESTS}",
                            f"LiteLLM {cold['litellm']}/{COLD_REQUESTS}", "-", "all",
                            cold["artproxy"] == COLD_REQUESTS))
            for clients, requests in LOADS:
                batches: dict[str, list[Batch]] = {"artproxy": [], "litellm": []}
                # In turns, each side first once, so a slow moment of the machine does not
                # land on one side only.
                for turn in range(ROUNDS):
                    order = (artproxy, litellm) if turn % 2 == 0 else (litellm, artproxy)
                    for server in order:
                        batches[server.name].append(generations(server, requests, clients))
                ours, theirs = joined(batches["artproxy"]), joined(batches["litellm"])
                rows += compared(ours, theirs, clients)
    return rows


def compared(ours: Batch, theirs: Batch, clients: int) -> list[Row]:
    what = f"/v1/images/generations, 256x256 PNG, {clients} clients"
    rows = [Row("L", f"{what}: req/s", f"{ours.rate:.0f}", f"LiteLLM {theirs.rate:.0f}",
                f"{ours.rate / theirs.rate:.2f}x", ">= 1x", ours.rate >= theirs.rate)]
    for label, fraction in (("p50", 0.5), ("p99", 0.99)):
        mine, peer = ours.percentile(fraction) * 1000, theirs.percentile(fraction) * 1000
        goal, met = ("<= LiteLLM", mine <= peer) if label == "p99" else ("report", None)
        rows.append(Row("L", f"{what}: latency {label} (ms)", f"{mine:.1f}",
                        f"LiteLLM {peer:.1f}", f"{mine / peer:.2f}x", goal, met))
    return rows
