"""The README's OpenAI SDK examples work as written, against a real server."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from PIL import Image

from tests.real_server import PROJECT_DIR, serve

README = (PROJECT_DIR / "README.md").read_text()
SECTION = README.split("### Use it from the OpenAI SDK", 1)[1].split("\n### ", 1)[0]
README_URL = "http://127.0.0.1:5000"


def example(language: str) -> str:
    return re.search(rf"```{language}\n(.*?)```", SECTION, re.DOTALL).group(1)


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
