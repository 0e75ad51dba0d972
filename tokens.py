"""Delete tokens: proof that a caller was the one given a stored image.

A token is an HMAC of the image's name under ARTPROXY_SECRET_KEY, so nothing is stored: every
instance with the same secret accepts it, before and after a restart. Without the setting,
gunicorn's master draws a secret for the instance (gunicorn.conf.py), shared by its workers and
lost when it stops.
"""

from __future__ import annotations

import hashlib
import hmac

TOKEN_HEX_DIGITS = 32  # 128 bits: as unguessable as the name itself


def delete_token(secret: str, name: str) -> str:
    digest = hmac.new(secret.encode("utf-8"), name.encode("utf-8"), hashlib.sha256).hexdigest()
    return digest[:TOKEN_HEX_DIGITS]


def token_matches(secret: str, name: str, presented: str) -> bool:
    return hmac.compare_digest(delete_token(secret, name).encode("ascii"),
                               presented.encode("utf-8", "replace"))
