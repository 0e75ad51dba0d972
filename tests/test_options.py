"""Each image option is declared once (options.py), and everything made from the declaration
agrees with the parsers: the OpenAPI document's query object, job body and OpenAI body take
exactly what the server takes, and the README's table is the one options.py prints."""

from __future__ import annotations

import itertools
import random

import pytest
from jsonschema import Draft202012Validator

import config
import options
from errors import BadInput
from options import declared_options, option_names, options_from_json, parse_options
from tests.real_server import PROJECT_DIR
from web.openai_v1.fields import read_request
from web.openapi import document

PROVIDERS = ("offline", "magicstudio")
SETTINGS = {**config.defaults(), "PROVIDER": PROVIDERS, "MAX_PROMPT_CHARS": 50}
# Good and bad values of every option, and of the OpenAI fields, as a caller might send them.
SAMPLES: dict[str, list[object]] = {
    "size": ["64x64", "2048x2048", "1024X576", "63x64", "2049x5", "x", "1x2x3", "²x64", "64x٦٤",
             "", None, 5, "auto"],
    "aspect": ["1:1", "16:9", "5:4", "", None, 3],
    "style": ["photo", "vaporwave", "", None, "vivid", "natural", 7],
    "transparent": ["true", "TRUE", "1", "0", "false", "yes", "", True, False, None, 1],
    "format": ["png", "PNG", "jpg", "JPEG", "webp", "gif", "", None, 7],
    "seed": [0, 4294967295, 4294967296, -1, "7", "0x1", "²", "", None, 7.0, 7.5, True],
    "quality": [0, 100, 101, -1, "50", "", None, 50.0, 7.5, True],
    "provider": ["offline", "magicstudio", "dalle", "", None, 1],
    "model": ["artproxy", "offline", "dall-e-9", "", None, 2],
    "n": [1, 4, 5, 0, 2.0, None],
    "background": ["transparent", "opaque", "auto", "clear", "", None, True],
    "output_format": ["png", "Jpeg", "jpg", "gif", "", None, 3],
    "response_format": ["url", "b64_json", "x", "", None],
}
# /v1's own fields; its "quality" is OpenAI's, not artproxy's option.
OPENAI_SAMPLES: dict[str, list[object]] = {**SAMPLES,
    "model": ["artproxy", "offline", "dall-e-3", "gpt-image-9", "anything", "", None, 2],
    "output_compression": [0, 100, 101, -1, "50", "", None, 50.0, 7.5, True],
    "quality": ["auto", "hd", "high", "ultra", "", None, 3],
    "moderation": ["auto", "low", "high", "", None, True],
    "input_fidelity": ["high", "low", "medium", "", None, 1],
    "stream": [True, False, "true", "", None, 1],
    "partial_images": [0, 3, 4, -1, "1", "", None, 2.0, False],
    "user": ["someone", "", None, 5],
}


@pytest.fixture(scope="module")
def openapi() -> dict:
    return document(SETTINGS)


def validator(openapi: dict, schema: dict) -> Draft202012Validator:
    schemas = openapi["components"]["schemas"]
    return Draft202012Validator({**schema, "components": {"schemas": schemas}})


def requests(names: list[str], as_text: bool, count: int = 3000,
             samples: dict[str, list[object]] = SAMPLES) -> list[dict]:
    """Every pair of sample values (so rules across two options are met), and random mixes."""
    chosen = random.Random(20261129)
    made = [dict(pair) for first, second in itertools.combinations(names, 2)
            for pair in itertools.product([(first, value) for value in samples[first]],
                                          [(second, value) for value in samples[second]])]
    made += [{name: chosen.choice(samples[name]) for name in names if chosen.random() < 0.5}
             for _ in range(count)]
    if as_text:  # a query string has text only, and no nulls
        made = [{name: str(value).lower() if isinstance(value, bool) else str(value)
                 for name, value in fields.items() if value is not None} for fields in made]
    return made


def accepted(read) -> bool:
    try:
        read()
    except BadInput:
        return False
    return True


def test_the_query_schema_takes_what_parse_options_takes(openapi):
    schema = openapi["paths"]["/generate"]["get"]["parameters"][1]["schema"]
    check = validator(openapi, schema)
    for query in requests(list(option_names()), as_text=True):
        assert check.is_valid(query) == accepted(
            lambda: parse_options(query, PROVIDERS)), query


def test_the_job_schema_takes_what_a_job_takes(openapi):
    check = validator(openapi, openapi["components"]["schemas"]["JobRequest"])
    for fields in requests(list(option_names()), as_text=False):
        assert check.is_valid({"prompt": "x", **fields}) == accepted(
            lambda: options_from_json(fields, PROVIDERS)), fields


def test_the_openai_schema_takes_what_v1_takes(openapi):
    check = validator(openapi, openapi["components"]["schemas"]["GenerationRequest"])
    names = ["size", "background", "output_format", "style", "model", "n", "response_format",
             "output_compression", "quality", "moderation", "input_fidelity", "stream",
             "partial_images", "user"]
    for fields in requests(names, as_text=False, samples=OPENAI_SAMPLES):
        body = {"prompt": "x", **fields}
        assert check.is_valid(body) == accepted(lambda: read_request(body, SETTINGS)), fields


def test_every_declared_option_is_in_every_derived_place(openapi):
    names = set(option_names())
    assert names == {"size", "aspect", "style", "transparent", "format", "quality", "seed",
                     "provider"}
    query = openapi["paths"]["/generate"]["get"]["parameters"][1]["schema"]["properties"]
    assert set(query) == names
    assert set(openapi["components"]["schemas"]["JobRequest"]["properties"]) == {"prompt", *names}
    for option in declared_options(PROVIDERS):
        assert query[option.name]["description"] == option.description


def test_a_value_whose_digits_are_not_ascii_is_a_bad_option_not_a_crash():
    for query, code in [({"seed": "²"}, "invalid_seed"), ({"size": "²x64"}, "invalid_size"),
                        ({"size": "64x٦٤"}, "invalid_size")]:
        with pytest.raises(BadInput) as refused:
            parse_options(query, PROVIDERS)
        assert refused.value.code == code


def test_the_defaults_are_image_options_own():
    by_name = {option.name: option for option in declared_options(PROVIDERS)}
    assert by_name["format"].default == "png" and by_name["transparent"].default is False
    assert parse_options({}, PROVIDERS) == options.ImageOptions()


def test_the_readme_table_is_the_declarations():
    readme = (PROJECT_DIR / "README.md").read_text()
    assert options.markdown_table() in readme
