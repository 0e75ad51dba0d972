"""The OpenAPI document is valid, covers every route, and is true: Schemathesis, with its
standard checks, runs against a live `python main.py` (offline provider) and finds no 5xx and
no answer that breaks the document. Bounded: a fixed number of examples per operation."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import pytest
from openapi_spec_validator import validate

from accounts import database
from accounts.store import AccountStore
from config import SignInClient
from testing import free_port
from tests.accounts.openid_provider import OpenIDProvider
from tests.real_server import PROJECT_DIR, serve

EXAMPLES_PER_OPERATION = 25


def test_the_document_is_valid_and_covers_every_route(make_app):
    app = make_app(ADMIN_KEYS=("boss",), PREMIUM_KEYS=("k",), SIGNIN={
        "test": SignInClient("test", "http://127.0.0.1:9", "artproxy", "unused")})
    document = app.test_client().get("/openapi.json").get_json()
    validate(document)
    assert document["openapi"] == "3.1.0"
    documented = {re.sub(r"\{(\w+)\}", r"<\1>", path) for path in document["paths"]}
    routes = {re.sub(r"<\w+:", "<", rule.rule) for rule in app.url_map.iter_rules()}
    # "/prompt/" only says "Prompt is required" (400): /prompt/{prompt} with the prompt left out.
    assert routes - {"/prompt/"} == documented
    for item in document["paths"].values():
        for method, operation in item.items():
            if method != "parameters":
                assert "X-Request-ID" in next(iter(operation["responses"].values())).get("headers", {})


def test_the_document_says_what_is_off(make_app):
    paths = make_app(METRICS=False).test_client().get("/openapi.json").get_json()["paths"]
    assert "/metrics" not in paths and "/admin/images" not in paths  # both answer 404 here
    assert "security" not in paths["/image"]["get"]  # no keys configured: open


def test_the_docs_page_reads_the_document(make_app):
    page = make_app().test_client().get("/docs")
    assert page.status_code == 200 and b"/static/docs.js" in page.data
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]


@pytest.mark.parametrize("settings, headers", [
    ({}, []),
    ({"ARTPROXY_PREMIUM_KEYS": "k", "ARTPROXY_ADMIN_KEYS": "k", "ARTPROXY_METRICS": "false"},
     ["-H", "Authorization: Bearer k"]),
], ids=["open", "with keys"])
def test_schemathesis_finds_nothing(image_dir, processes, tmp_path, settings, headers):
    base_url = serve(processes, image_dir, ARTPROXY_PROVIDER="offline", **settings)
    report = tmp_path / "junit.xml"
    run = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "run", f"{base_url}/openapi.json",
         "--max-examples", str(EXAMPLES_PER_OPERATION), "--seed", "20261122", "--no-color",
         "--request-timeout", "30", "--generation-database", "none",
         "--report", "junit", "--report-junit-path", str(report), *headers],
        cwd=PROJECT_DIR, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "passed" in run.stdout and " 0 operations" not in run.stdout


def test_schemathesis_finds_nothing_in_the_accounts_routes(image_dir, processes, tmp_path):
    """The accounts' routes, with a real OpenID provider to send sign-ins to, and one of an
    account's keys for the calls that need one (Schemathesis may delete that account too)."""
    port = free_port()
    with OpenIDProvider([f"http://127.0.0.1:{port}/auth/test/callback"]) as provider:
        base_url = serve(processes, image_dir, port=port, ARTPROXY_PROVIDER="offline",
                         ARTPROXY_SIGNIN_PROVIDERS="test", **provider.settings("test"))
        database_url = database.database_url({"DATABASE_URL": "",
                                              "STATE_DIR": str(image_dir.parent / "state")})
        store = AccountStore(database.connect(database_url), time.time, signup_credits=1000)
        account, _ = store.sign_in("test", "schemathesis", None, None)
        _, key = store.create_key(account.id, "schemathesis")
        run = subprocess.run(
            [sys.executable, "-m", "schemathesis.cli", "run", f"{base_url}/openapi.json",
             "--include-path-regex", "^/(auth|account)", "--max-examples",
             str(EXAMPLES_PER_OPERATION), "--seed", "20261130", "--no-color",
             "--request-timeout", "30", "--generation-database", "none",
             "-H", f"Authorization: Bearer {key}"],
            cwd=PROJECT_DIR, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "passed" in run.stdout and " 0 operations" not in run.stdout
