"""The README's OpenAI SDK examples work as written, against a real server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from PIL import Image

from tests.real_server import PROJECT_DIR, serve

README = (PROJECT_DIR / "README.md").read_text()
SECTION = README.split("### Use it from the OpenAI SDK", 1)[1].split("\n### ", 1)[0]
README_URL = "http://127.0.0.1:5000"


CLIENTS = README.split("### Use it from other clients", 1)[1].split("\n## ", 1)[0]
KEY = "your-artproxy-key"


def example(language: str, section: str = SECTION) -> str:
    return re.search(rf"```{language}\n(.*?)```", section, re.DOTALL).group(1)


def test_the_python_example(image_dir, processes, tmp_path):
    base_url = serve(processes, image_dir, ARTPROXY_PROVIDER="offline")
    code = example("python").replace(README_URL, base_url)
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True, timeout=60)
    assert Image.open(tmp_path / "lighthouse.png").size == (1024, 576)


def test_the_curl_example(image_dir, processes):
    base_url = serve(processes, image_dir, ARTPROXY_PROVIDER="offline")
    command = example("sh").replace(README_URL, base_url)
    answer = json.loads(subprocess.run(["bash", "-c", command], capture_output=True, text=True,
                                       check=True, timeout=60).stdout)
    assert answer["data"][0]["url"].startswith(base_url + "/images/")
    assert answer["size"] == "1024x576"


def test_the_jobs_example_body_makes_a_job(image_dir, processes):
    from tests.real_server import get, post_json

    jobs_section = README.split("### Jobs", 1)[1].split("\n### ", 1)[0]
    body = json.loads(re.search(r"-d '(\{.*?\})'", jobs_section).group(1))
    base_url = serve(processes, image_dir, ARTPROXY_PROVIDER="offline")
    status, _, created = post_json(f"{base_url}/jobs", body)
    assert (status, created["status"], created["position"]) == (202, "queued", 1)
    done = get(f"{base_url}{created['status_url']}?wait=30")[2]
    if done["status"] != "done":
        done = get(f"{base_url}{created['status_url']}?wait=30")[2]
    assert done["status"] == "done" and done["result"]["width"] == 1024


def test_the_litellm_example(image_dir, processes):
    base_url = serve(processes, image_dir, ARTPROXY_PROVIDER="offline", ARTPROXY_PREMIUM_KEYS=KEY)
    code = example("python", CLIENTS).replace(README_URL, base_url)
    printed = subprocess.run([str(PROJECT_DIR / ".venv-litellm" / "bin" / "python"), "-c", code],
                             capture_output=True, text=True, check=True, timeout=120,
                             env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}).stdout
    assert printed.strip().startswith(base_url + "/images/")


def test_the_node_example(image_dir, processes):
    base_url = serve(processes, image_dir, ARTPROXY_PROVIDER="offline", ARTPROXY_PREMIUM_KEYS=KEY)
    # Inside tests/node, where `import ... from 'openai'` finds the installed SDK.
    script = PROJECT_DIR / "tests" / "node" / f".readme-example-{os.getpid()}.mjs"
    script.write_text(example("js", CLIENTS).replace(README_URL, base_url))
    try:
        printed = subprocess.run(["node", str(script)], capture_output=True, text=True,
                                 check=True, timeout=60).stdout
    finally:
        script.unlink()
    assert int(printed) > 1000  # the completed picture's base64
