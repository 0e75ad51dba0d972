"""A real OpenID provider for the sign-in tests (tests/node/oidc_provider.mjs: npm
oidc-provider), and a browser's part in signing in with it, driven over HTTP."""

from __future__ import annotations

import json
import re
import shutil
from html import unescape
from urllib.parse import urljoin, urlsplit

import requests

from testing import free_port
from testing.child_server import ChildServer
from tests.real_server import PROJECT_DIR

PROVIDER_SCRIPT = PROJECT_DIR / "tests" / "node" / "oidc_provider.mjs"
CLIENT_SECRET = "a-secret-of-the-tests-only"


class OpenIDProvider(ChildServer):
    def __init__(self, redirect_uris: list[str], client_ids: tuple[str, ...] = ("artproxy",)):
        if not (PROVIDER_SCRIPT.parent / "node_modules" / "oidc-provider").is_dir():
            raise RuntimeError("oidc-provider is not installed; .ci/run runs npm ci in tests/node")
        port = free_port()
        self.issuer = f"http://127.0.0.1:{port}"
        clients = [{"client_id": client_id, "client_secret": CLIENT_SECRET,
                    "redirect_uris": redirect_uris} for client_id in client_ids]
        super().__init__("oidc-provider", [shutil.which("node") or "node", str(PROVIDER_SCRIPT),
                                           str(port), json.dumps(clients)],
                         port, ready_path="/.well-known/openid-configuration")

    def settings(self, name: str = "test", client_id: str = "artproxy") -> dict[str, str]:
        """The ARTPROXY_SIGNIN_* variables that name this provider as ``name``."""
        prefix = f"ARTPROXY_SIGNIN_{name.upper()}_"
        return {prefix + "ISSUER": self.issuer, prefix + "CLIENT_ID": client_id,
                prefix + "CLIENT_SECRET": CLIENT_SECRET}

    def forge_next_id_token(self, **claims: str) -> None:
        """The next ID token the provider sends has these claims instead (still signed)."""
        requests.post(f"{self.issuer}/test/forge", json=claims, timeout=5).raise_for_status()


def sign_in_at_provider(browser: requests.Session, authorization_url: str, login: str) -> str:
    """What a person does at the provider: the login screen (any login), then consent. Returns
    the address the provider sends the browser back to (artproxy's callback), not followed."""
    provider = urlsplit(authorization_url).netloc
    url = authorization_url
    for _ in range(12):
        answer = browser.get(url, allow_redirects=False, timeout=10)
        if answer.is_redirect:
            url = urljoin(url, answer.headers["Location"])
            if urlsplit(url).netloc != provider:
                return url
            continue
        form = re.search(r'<form[^>]*action="([^"]+)"[^>]*method="post"[^>]*>(.*?)</form>',
                         answer.text, re.S)
        if form is None:
            raise AssertionError(f"no form at the provider: {answer.status_code} {answer.text}")
        fields = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', form[2]))
        fields.update(login=login, password="any")
        posted = browser.post(urljoin(url, unescape(form[1])), data=fields,
                              allow_redirects=False, timeout=10)
        assert posted.is_redirect, posted.text
        url = urljoin(url, posted.headers["Location"])
    raise AssertionError("the provider never sent the browser back")
