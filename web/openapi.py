"""``GET /openapi.json``: the OpenAPI 3.1 contract of every route; ``GET /docs`` renders it.

The document is built from the same tables the server checks against (styles, aspects,
formats, limits, configured providers), so it says exactly what this server accepts.
tests/test_contract.py validates it and runs Schemathesis against a live server with it.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Response, current_app, jsonify

from imaging.edits import EDITABLE_FORMATS
from jobs import ID_PATTERN, STATUSES
from option_kinds import TRUE, any_case
from options import Option, declared_options, opaque_format_spellings
from storage import NAME_PATTERN
from web.identity import SESSION_COOKIE
from web.jobs import LONGEST_WAIT_SECONDS
from web.limits import unlimited
from web.openai_v1.fields import (
    API_FIELDS,
    OPENAI_NAMES,
    RESPONSE_FORMATS,
    OpenAIName,
)
from web.openai_v1.images import MAX_EDIT_IMAGES
from web.openapi_accounts import account_paths, account_schemas

contract = Blueprint("contract", __name__)

JSON = "application/json"
STATUS_WORDS = {200: "OK", 202: "Accepted", 204: "Deleted", 206: "Part of the image",
                304: "Not modified", 400: "Invalid input", 401: "A valid API key is required",
                403: "Not allowed", 404: "Not found or expired", 405: "Method not allowed",
                402: "The account has no credits left", 412: "Precondition failed",
                413: "Upload too large", 416: "Range not satisfiable",
                429: "Rate limit or quota spent", 502: "The upstream failed",
                503: "Busy or unavailable; see Retry-After", 504: "The upstream took too long",
                507: "Storage is full"}
# 402: an account's credits are spent (with sign-in providers).
GENERATING_ERRORS = (400, 402, 403, 429, 502, 503, 504)


@contract.get("/openapi.json")
@unlimited
def openapi_document() -> Response:
    return jsonify(document(current_app.config))


@contract.get("/docs")
@unlimited
def docs_page() -> Response:
    return current_app.send_static_file("docs.html")  # with the page policy (web/page.py)


def document(config: Mapping[str, Any]) -> dict[str, Any]:
    providers = list(config["PROVIDER"])
    max_prompt = config["MAX_PROMPT_CHARS"]
    accounts = bool(config["SIGNIN"])
    return {
        "openapi": "3.1.0",
        "info": {"title": "artproxy", "version": "1.0.0",
                 "description": "A hardened proxy in front of free AI art generators: images as "
                                "base64 or short-lived URLs, background jobs, an OpenAI-compatible "
                                "images API. Every answer carries X-Request-ID.",
                 "license": {"name": "MIT", "identifier": "MIT"}},
        "paths": paths(providers, keys_required=bool(config["PREMIUM_KEYS"]),
                       admin=bool(config["ADMIN_KEYS"]), metrics=config["METRICS"],
                       metrics_key=bool(config["METRICS_KEY"]),
                       prompt_urls=config["PROMPT_URLS"])
                 | (account_paths(operation, json_answer, no_content, errors,
                                  admin=bool(config["ADMIN_KEYS"])) if accounts else {}),
        "components": {
            "schemas": schemas(declared_options(tuple(providers)), providers, max_prompt,
                               config["MAX_IMAGES_PER_REQUEST"])
                       | (account_schemas() if accounts else {}),
            "headers": {
                "X-Request-ID": {"description": "This request's id (the caller's, if safe)",
                                 "schema": {"type": "string"}},
                "Retry-After": {"description": "Seconds to wait before trying again",
                                "schema": {"type": "string", "pattern": r"^[0-9]+$"}},
            },
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "A premium key (ARTPROXY_PREMIUM_KEYS), an account's "
                                          "key, or for /admin an admin key"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "session": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE,
                            "description": "A signed-in browser's session (changes only from "
                                           "artproxy's own pages)"},
            },
        },
    }


def paths(providers: list[str], keys_required: bool, admin: bool,
          metrics: bool, metrics_key: bool = False, prompt_urls: bool = True) -> dict[str, Any]:
    """The routes this server answers as configured: /admin only with admin keys, /metrics only
    when on, /prompt only when on, and a key required where premium keys are set."""
    keyed: list[dict[str, list[str]]] | None = (
        [{"bearer": []}, {"apiKey": []}] if keys_required else None)
    options = option_parameters(declared_options(tuple(providers)))
    prompt = {"name": "p", "in": "query", "required": True, "description": "The prompt",
              "schema": {"$ref": "#/components/schemas/Prompt"}}
    routes = {
        "/": {"get": operation("Liveness", {200: json_answer("Alive")})},
        "/healthz": {"get": operation("Readiness: storage usable", {
            200: json_answer("Readiness"), 503: json_answer("Readiness", retry=False)})},
        "/generate": {"get": operation(
            "An image as base64 JSON",
            {200: json_answer("Generated"), **errors(*GENERATING_ERRORS)},
            parameters=[prompt, *options])},
        "/image": {"get": operation(
            "Store an image; its URL and delete token", {
                200: json_answer("StoredImage"), **errors(*GENERATING_ERRORS, 401, 507)},
            parameters=[prompt, *options], security=keyed)},
        "/images/{name}": {
            "parameters": [{"name": "name", "in": "path", "required": True,
                            "schema": {"type": "string", "pattern": anchored(NAME_PATTERN)}}],
            "get": operation("A stored image, until its deadline", {
                200: image_answer(), 206: image_answer(), 304: no_content("Not modified"),
                **errors(403, 404, 412, 416, 503)}),
            "delete": operation("Delete an image with its delete token", {
                204: no_content("Deleted"), **errors(403, 404, 503)},
                parameters=[{"name": "X-Delete-Token", "in": "header", "required": True,
                             "schema": {"type": "string"}}]),
        },
        **({"/prompt/{prompt}": prompt_url(options)} if prompt_urls else {}),
        "/styles": {"get": operation("The style presets", {200: json_answer("Styles")})},
        "/options": {"get": operation("What else a caller may choose",
                                      {200: json_answer("Options")})},
        "/quota": {"get": operation("What is left of the presented key's quota", {
            200: json_answer("Quota"), **errors(401)}, security=keyed)},
        "/jobs": {"post": operation(
            "Make an image in the background", {202: json_answer("Job"),
                                                **errors(400, 401, 403, 429, 503)},
            body={"$ref": "#/components/schemas/JobRequest"}, security=keyed)},
        "/jobs/{job_id}": {"get": operation(
            "A job's state; ?wait holds the answer until it changes", {
                200: json_answer("Job"), **errors(400, 404, 503)},
            parameters=[
                {"name": "job_id", "in": "path", "required": True,
                 "schema": {"type": "string", "pattern": anchored(ID_PATTERN)}},
                {"name": "wait", "in": "query", "schema": {
                    "type": "number", "minimum": 0, "maximum": LONGEST_WAIT_SECONDS}},
                {"name": "after", "in": "query", "schema": {"enum": list(STATUSES)}},
            ])},
        "/v1/images/generations": {"post": operation(
            "OpenAI's image generation", {
                200: images_answer(),
                **errors(*GENERATING_ERRORS, 401, 404, 507, openai=True)},
            body={"$ref": "#/components/schemas/GenerationRequest"}, security=keyed)},
        "/v1/images/edits": {"post": operation(
            "OpenAI's image edit (multipart)", {
                200: images_answer(),
                **errors(*GENERATING_ERRORS, 401, 404, 413, 507, openai=True)},
            body={"$ref": "#/components/schemas/EditRequest"}, media="multipart/form-data",
            security=keyed, encoding={
                "image": {"contentType": ", ".join(f"image/{kind.lower()}"
                                                   for kind in EDITABLE_FORMATS)},
                "mask": {"contentType": "image/png"}})},
        "/v1/images/variations": {"post": operation(
            "OpenAI's image variations (multipart): where a provider draws them", {
                200: json_answer("ImagesResponse"),
                **errors(*GENERATING_ERRORS, 401, 404, 413, 507, openai=True)},
            body={"$ref": "#/components/schemas/VariationRequest"},
            media="multipart/form-data", security=keyed, encoding={
                "image": {"contentType": ", ".join(f"image/{kind.lower()}"
                                                   for kind in EDITABLE_FORMATS)}})},
        "/v1/models": {"get": operation(
            "The models: artproxy, each provider, each alias, OpenAI's image models", {
                200: json_answer("Models")}, security=keyed)},
        "/v1/models/{model_id}": {"get": operation("One model", {
            200: json_answer("Model"), **errors(404, openai=True)},
            parameters=[{"name": "model_id", "in": "path", "required": True,
                         "schema": {"type": "string"}}], security=keyed)},
        "/openapi.json": {"get": operation("This document", {200: {
            "description": "OpenAPI 3.1", "headers": request_id_header(),
            "content": {JSON: {"schema": {"type": "object"}}}}})},
        "/docs": {"get": operation("This document, readable", {200: text_answer("text/html")})},
        "/app": {"get": operation("The page for people", {200: text_answer("text/html")})},
        "/static/{filename}": {"get": operation("The page's files", {
            200: {"description": "The file", "headers": request_id_header(),
                  "content": {"*/*": {"schema": {}}}},
            304: no_content("Not modified"), **errors(404)},
            parameters=[{"name": "filename", "in": "path", "required": True,
                         "schema": {"type": "string"}}])},
    }
    if admin:
        routes.update({
            "/admin/images": {
                "get": operation("Every live image (admin key)", {
                    200: json_answer("ImageListing"), **errors(401, 404, 503)},
                    security=[{"bearer": []}]),
                "delete": operation("Delete every image (admin key)", {
                    200: json_answer("Deleted"), **errors(401, 404, 503)},
                    security=[{"bearer": []}]),
            },
            "/admin/images/{name}": {"delete": operation("Delete one image (admin key)", {
                204: no_content("Deleted"), **errors(401, 404, 503)},
                parameters=[{"name": "name", "in": "path", "required": True,
                             "schema": {"type": "string", "pattern": anchored(NAME_PATTERN)}}],
                security=[{"bearer": []}])},
        })
    if metrics:
        routes["/metrics"] = {"get": operation(
            "Prometheus metrics of the whole instance",
            {200: text_answer("text/plain"), **(errors(401) if metrics_key else {})},
            security=[{"bearer": []}] if metrics_key else None)}
    return routes


def option_parameters(options: tuple[Option, ...]) -> list[dict[str, Any]]:
    """The image options as one exploded query object (``?size=..&style=..``), so the schema can
    say what a list of separate parameters cannot: size or aspect, not both; no transparent JPEG.
    An empty value is the same as leaving the option out."""
    return [{"name": "options", "in": "query", "style": "form", "explode": True, "schema": {
        "type": "object",
        "properties": {option.name: {**or_empty(option.kind.text_schema()),
                                     "description": option.description}
                       for option in options},
        "allOf": [size_or_aspect({}),
                  no_transparent_jpeg("transparent", {"pattern": any_case(*TRUE)}, "format")],
    }}]


def or_empty(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` for a query parameter, which may also be empty."""
    if set(schema) == {"enum"}:
        return {"enum": [*schema["enum"], ""]}
    pattern = schema.get("pattern", "")
    if schema.get("type") == "string" and pattern.startswith("^") and pattern.endswith("$"):
        return {**schema, "pattern": f"^(?:{pattern[1:-1]})?$"}
    return {"anyOf": [schema, {"const": ""}]}


def or_absent(option: Option, words: Mapping[str, object] | None = None) -> dict[str, Any]:
    """``option``'s schema for a JSON field, which may also be null (or, for text, empty), or
    one of ``words``."""
    schema = option.kind.schema()
    if option.kind.json_type != "string":
        return {**schema, "type": [schema["type"], "null"]}
    absent = [*(words or {}), "", None]
    if set(schema) == {"enum"}:
        return {"enum": [*schema["enum"], *absent]}
    return {"anyOf": [schema, {"enum": absent}]}


def openai_fields(options: Mapping[str, Option], max_images: int) -> dict[str, Any]:
    """A generation's fields, and an edit's besides its files. Any model is drawn (by the chain)
    unless ARTPROXY_STRICT_MODELS is set."""
    return {
        "model": {"type": ["string", "null"]},
        "n": {"type": ["integer", "null"], "minimum": 1, "maximum": max_images},
        **{openai: openai_field(name, options) for openai, name in OPENAI_NAMES.items()},
        "response_format": {"enum": [*RESPONSE_FORMATS, "", None]},
        **{name: {"anyOf": [option.kind.schema(), {"enum": ["", None]}],
                  "description": option.description}
           for name, (option, _) in API_FIELDS.items()},
        "user": {"type": ["string", "null"]},
    }


def openai_field(name: OpenAIName, options: Mapping[str, Option]) -> dict[str, Any]:
    if name.only_words:
        return {"enum": [*name.words, "", None]}
    option = options[name.option]
    if option.kind.json_type != "string":  # "" is left out here too, as for every /v1 field
        return {"anyOf": [or_absent(option, name.words), {"const": ""}]}
    return or_absent(option, name.words)


@functools.cache
def not_only_whitespace() -> str:
    """A pattern for text with a character str.strip() keeps, as the server checks a prompt:
    Python's whitespace is not ECMA 262's ``\\s`` (it has U+001C to U+001F, not U+FEFF)."""
    spaces = [code for code in range(sys.maxunicode + 1) if chr(code).isspace()]
    ranges: list[list[int]] = []
    for code in spaces:
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    spelled = "".join(f"\\u{first:04x}" if first == last else f"\\u{first:04x}-\\u{last:04x}"
                      for first, last in ranges)
    return f"[^{spelled}]"


def anchored(pattern: re.Pattern[str]) -> str:
    """A pattern the server fullmatch()es, as JSON Schema's (ECMA 262) anchored pattern."""
    return "^(?:" + re.sub(r"\(\?P<\w+>", "(", pattern.pattern) + ")$"


def size_or_aspect(given: dict) -> dict:
    """Not both size and aspect; an empty one counts as left out."""
    nonempty = {**given, "minLength": 1}
    return {"not": {"required": ["size", "aspect"],
                    "properties": {"size": nonempty, "aspect": nonempty}}}


def no_transparent_jpeg(switch: str, switched_on: dict[str, Any],
                        format_field: str) -> dict[str, Any]:
    """No transparency in a JPEG: ``switch`` set as ``switched_on`` with a format that has no
    alpha channel is refused."""
    return {"if": {"required": [switch, format_field],
                   "properties": {switch: switched_on,
                                  format_field: {"type": "string",
                                                 "pattern": any_case(*opaque_format_spellings())}}},
            "then": False}


def operation(summary: str, responses: dict, parameters: list | None = None,
              body: dict | None = None, media: str = JSON, security: list | None = None,
              encoding: dict | None = None) -> dict:
    described = {"summary": summary,
                 "responses": {str(status): answer for status, answer in responses.items()}}
    if parameters:
        described["parameters"] = parameters
    if body is not None:
        content: dict[str, Any] = {"schema": body}
        if encoding:
            content["encoding"] = encoding
        described["requestBody"] = {"required": True, "content": {media: content}}
    if security is not None:
        described["security"] = security
    return described


def prompt_url(options: list[dict]) -> dict[str, Any]:
    """GET and HEAD of a prompt URL; the answer is the picture itself."""
    cached = {"description": "The picture (X-Artproxy-Cache: hit or miss)",
              "headers": {**request_id_header(), "X-Artproxy-Cache": {
                  "description": "hit: no upstream was called; miss: drawn for this request",
                  "schema": {"enum": ["hit", "miss"]}}}}
    return {
        "parameters": [{"name": "prompt", "in": "path", "required": True,
                        "description": "The prompt, percent-encoded as one segment (`/` is %2F)",
                        "schema": {"$ref": "#/components/schemas/Prompt"}}, *options],
        "get": operation("The picture of a prompt, cached: for <img src>", {
            200: {**image_answer(), **cached}, 304: no_content("Not modified"),
            **errors(*GENERATING_ERRORS, 404, 507)}),
        "head": operation("What is cached for a prompt URL; never draws", {
            200: cached, **errors(400, 403, 404, 503)}),
    }


def no_content(description: str) -> dict:
    return {"description": description, "headers": request_id_header()}


def request_id_header() -> dict:
    return {"X-Request-ID": {"$ref": "#/components/headers/X-Request-ID"}}


def json_answer(schema: str, retry: bool = False) -> dict:
    headers = request_id_header()
    if retry:
        headers["Retry-After"] = {"$ref": "#/components/headers/Retry-After"}
    return {"description": "OK", "headers": headers,
            "content": {JSON: {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}


def images_answer() -> dict:
    """OpenAI's JSON answer, or with ``"stream": true`` its events."""
    answer = json_answer("ImagesResponse")
    answer["content"]["text/event-stream"] = {"schema": {
        "type": "object", "required": ["event", "data"],
        "properties": {"event": {"type": "string"}, "data": {
            "type": "string", "contentMediaType": "application/json"}}}}
    return answer


def text_answer(media: str) -> dict:
    return {"description": "OK", "headers": request_id_header(),
            "content": {media: {"schema": {"type": "string"}}}}


def image_answer() -> dict:
    return {"description": "The image", "headers": request_id_header(),
            "content": {mime: {"schema": {"type": "string", "contentMediaType": mime}}
                        for mime in ("image/png", "image/webp", "image/jpeg")}}


def errors(*statuses: int, openai: bool = False) -> dict:
    shape = "OpenAIError" if openai else "Error"
    return {status: {**json_answer(shape, retry=status in (429, 503, 507)),
                     "description": STATUS_WORDS[status]}
            for status in sorted(set(statuses))}


def schemas(options: tuple[Option, ...], providers: list[str], max_prompt: int,
            max_images: int) -> dict[str, Any]:
    nullable_string = {"type": ["string", "null"]}
    by_name = {option.name: option for option in options}
    stored_image = {"type": "object", "required": ["url", "delete_token", "expires_at",
                                                   "expires_in", "mime", "provider", "width",
                                                   "height"],
                    "properties": {"url": {"type": "string"}, "delete_token": {"type": "string"},
                                   "expires_at": {"type": "string", "format": "date-time"},
                                   "expires_in": {"type": "integer", "minimum": 0},
                                   "mime": {"type": "string"}, "provider": {"type": "string"},
                                   "width": {"type": "integer"}, "height": {"type": "integer"}}}
    return {
        "Prompt": {"type": "string", "minLength": 1, "maxLength": max_prompt,
                   "pattern": not_only_whitespace()},
        "Error": {"type": "object", "required": ["error", "code", "request_id"],
                  "properties": {"error": {"type": "string"}, "code": {"type": "string"},
                                 "request_id": nullable_string}},
        "OpenAIError": {"type": "object", "required": ["error", "request_id"], "properties": {
            "error": {"type": "object", "required": ["message", "type", "param", "code"],
                      "properties": {"message": {"type": "string"}, "type": {"type": "string"},
                                     "param": nullable_string, "code": nullable_string}},
            "request_id": nullable_string}},
        "Alive": {"type": "object", "required": ["status"],
                  "properties": {"status": {"const": "Server is alive"}}},
        "Readiness": {"type": "object",
                      "required": ["status", "storage", "state", "sweeper", "providers", "jobs",
                                   "prompt_cache"],
                      "properties": {"status": {"enum": ["ready", "unavailable"]},
                                     "storage": {"type": "object"}, "state": {"type": "object"},
                                     "sweeper": {"type": "string"},
                                     "providers": {"type": "object"}, "jobs": {"type": "object"},
                                     "prompt_cache": {"type": ["object", "string"]}}},
        "Generated": {"type": "object", "required": ["img", "mime", "provider", "width", "height"],
                      "properties": {"img": {"type": "string", "contentEncoding": "base64"},
                                     "mime": {"type": "string"}, "provider": {"type": "string"},
                                     "width": {"type": "integer"}, "height": {"type": "integer"}}},
        "StoredImage": stored_image,
        "Styles": {"type": "array", "items": {
            "type": "object", "required": ["name", "label", "description"],
            "properties": {"name": {"type": "string"}, "label": {"type": "string"},
                           "description": {"type": "string"}}}},
        "Options": {"type": "object", "required": ["aspects", "formats", "providers", "max_seed",
                                                   "max_prompt_chars", "keys_required",
                                                   "prompt_urls"]},
        "Quota": {"type": "object", "required": ["limit", "remaining", "reset_at"],
                  "properties": {name: {"type": ["integer", "null"]}
                                 for name in ("limit", "remaining", "reset_at")}},
        "JobRequest": {
            "type": "object", "required": ["prompt"], "additionalProperties": False,
            "properties": {"prompt": {"$ref": "#/components/schemas/Prompt"},
                           **{option.name: or_absent(option) for option in options}},
            "allOf": [size_or_aspect({"type": "string"}),
                      no_transparent_jpeg("transparent", {"const": True}, "format")]},
        "Job": {"type": "object", "required": ["id", "status", "status_url", "position",
                                               "created_at", "started_at", "finished_at",
                                               "result", "error", "progress"],
                "properties": {
                    "id": {"type": "string", "pattern": anchored(ID_PATTERN)},
                    "status": {"enum": list(STATUSES)}, "status_url": {"type": "string"},
                    "position": {"type": ["integer", "null"], "minimum": 1},
                    "created_at": {"type": "string", "format": "date-time"},
                    "started_at": nullable_string, "finished_at": nullable_string,
                    "result": {"anyOf": [stored_image, {"type": "null"}]},
                    "error": {"anyOf": [{"type": "null"}, {
                        "type": "object", "required": ["status", "code", "message"],
                        "properties": {"status": {"type": "integer"}, "code": {"type": "string"},
                                       "message": {"type": "string"}}}]},
                    # While running, where the upstream has its own queue (AI Horde).
                    "progress": {"anyOf": [{"type": "null"}, {
                        "type": "object",
                        "required": ["provider", "upstream_queue_position",
                                     "upstream_wait_seconds"],
                        "properties": {"provider": {"type": "string"},
                                       "upstream_queue_position": {"type": ["integer", "null"]},
                                       "upstream_wait_seconds": {"type": ["number", "null"]}}}]}}},
        "ImageListing": {"type": "object", "required": ["count", "bytes", "images"]},
        "Deleted": {"type": "object", "required": ["deleted"],
                    "properties": {"deleted": {"type": "integer", "minimum": 0}}},
        "GenerationRequest": {
            "type": "object", "required": ["prompt"],
            "properties": {
                "prompt": {"$ref": "#/components/schemas/Prompt"},
                # null or "" is the same as leaving a field out, as OpenAI's SDKs may send it
                **openai_fields(by_name, max_images)},
            **no_transparent_jpeg(
                "background",
                {"enum": [word for word, value in OPENAI_NAMES["background"].words.items()
                          if value is True]},
                "output_format")},
        "EditRequest": {"type": "object", "required": ["image", "prompt"], "properties": {
            "image": {"type": "string", "description": f"A PNG, JPEG or WebP; as `image` or "
                                                       f"`image[]`, up to {MAX_EDIT_IMAGES} "
                                                       f"holding at most MAX_IMAGE_PIXELS "
                                                       f"together, laid over one another in "
                                                       f"order"},
            "mask": {"type": "string", "description": "A PNG whose transparent pixels are "
                                                      "redrawn in the first image"},
            "prompt": {"$ref": "#/components/schemas/Prompt"}}},
        "VariationRequest": {"type": "object", "required": ["image"], "properties": {
            "image": {"type": "string", "description": "A PNG, JPEG or WebP"}}},
        "ImagesResponse": {"type": "object", "required": ["created", "data"], "properties": {
            "created": {"type": "integer"},
            "data": {"type": "array", "items": {"type": "object"}}}},
        "Models": {"type": "object", "required": ["object", "data"]},
        "Model": {"type": "object", "required": ["id", "object", "created", "owned_by"]},
    }
