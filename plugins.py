"""One way to choose an implementation by name, for providers and stores alike.

A registry maps a name, as a setting spells it, to ``"module:Class"``. The module is imported
only when its name is chosen, so an unused upstream or store costs nothing, and adding one is a
module and a line in its registry. The class builds itself with ``from_config``.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from config import ConfigError


def load(registry: Mapping[str, str], name: str, setting: str) -> Any:
    """The class registered as ``name``; ConfigError naming ``setting`` if there is none.
    (Any: the caller annotates what the class's ``from_config`` builds.)"""
    module_name, class_name = target(registry, name, setting).split(":")
    return getattr(importlib.import_module(module_name), class_name)


def target(registry: Mapping[str, str], name: str, setting: str) -> str:
    """``"module:Class"`` for ``name``, without importing it (gunicorn's master checks names)."""
    try:
        return registry[name]
    except KeyError:
        known = ", ".join(sorted(registry))
        raise ConfigError(f"ARTPROXY_{setting}={name!r} is not valid: choose one of "
                          f"{known}") from None
