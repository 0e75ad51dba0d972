"""LiteLLM against artproxy, run in LiteLLM's own venv (.venv-litellm) by
tests/web/test_openai_clients.py:

    .venv-litellm/bin/python tests/litellm_client.py generate|edit '<JSON arguments>'

Prints the answer's data items as JSON: [{"url", "b64_json"}, ...], or {"error": ...}."""

import json
import os
import sys

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no download at import

import litellm  # noqa: E402


def main() -> None:
    scenario, arguments = sys.argv[1], json.loads(sys.argv[2])
    try:
        if scenario == "generate":
            result = litellm.image_generation(**arguments)
        else:
            with open(arguments.pop("path"), "rb") as image:
                result = litellm.image_edit(image=image, **arguments)
    except litellm.exceptions.APIError as error:
        print(json.dumps({"error": {"status": error.status_code, "message": str(error)}}))
        return
    print(json.dumps([{"url": item.url, "b64_json": item.b64_json} for item in result.data]))


if __name__ == "__main__":
    main()
