"""Credits: every generating view charges the account a request acts for (web/identity.py).

init_app() wraps each view that declared itself generating (web/limits.py): before the view
runs, the images it asks for are taken from the account's credits (402 ``no_credits`` if they
are not there, and nothing is drawn); the view says what it made with ``made()``, which writes
the account's history; afterwards whatever was taken for an image not made is given back. A
stream or a job, which finish after the view returned, settle their charge themselves.
Requests that act for no account are not touched.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import Flask, g

from accounts.charges import Charge
from generator_client import ImageOptions
from service import RenderedImage
from storage import StoredImage
from web.identity import account_store, current_account_id
from web.limits import COST_ATTRIBUTE, WHEN_DRAWN, declared_budgets


def init_app(app: Flask) -> None:
    for endpoint, budget in declared_budgets(app).items():
        if budget is None:
            continue
        view = app.view_functions[endpoint]
        images_asked = (lambda: 0) if budget == WHEN_DRAWN else getattr(view, COST_ATTRIBUTE,
                                                                        lambda: 1)
        app.view_functions[endpoint] = charged(view, images_asked)


def charged(view: Callable[..., Any], images_asked: Callable[[], int]) -> Callable[..., Any]:
    @functools.wraps(view)
    def charging_view(*args: Any, **kwargs: Any) -> Any:
        account_id = current_account_id()
        store = account_store()
        if account_id is None or store is None:
            return view(*args, **kwargs)
        charge = g.artproxy_charge = Charge(store, account_id)
        charge.take(images_asked())
        try:
            response = view(*args, **kwargs)
        finally:
            if not charge.settles_later:
                charge.settle()
        return response

    return charging_view


def current_charge() -> Charge | None:
    """This request's charge, if it acts for an account."""
    return g.get("artproxy_charge")


def take_one() -> None:
    """For views that draw only sometimes (a prompt URL's miss): one image's credit, now."""
    charge = current_charge()
    if charge is not None:
        charge.take(1)


def made(charge: Charge | None, prompt: str, options: ImageOptions, rendered: RenderedImage,
         stored: StoredImage | None = None) -> None:
    """Record an image made for ``charge`` (nothing without one)."""
    if charge is None:
        return
    charge.made(prompt, options, rendered.provider,
                stored.name if stored is not None else None,
                stored.expires_at if stored is not None else None)

