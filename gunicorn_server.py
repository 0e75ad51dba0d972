"""Runs the app under gunicorn from inside ``python main.py``, with the project's config file."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from flask import Flask
from gunicorn.app.base import Application


class GunicornServer(Application):
    def __init__(self, config_file: Path, create_app: Callable[[], Flask]):
        self.config_file = config_file
        self.create_app = create_app
        super().__init__()

    def load_config(self) -> None:
        # Only the file: gunicorn's own command-line parsing would reject main.py's arguments.
        self.load_config_from_file(str(self.config_file))

    def load(self) -> Flask:
        # Called in each worker after the fork, so each builds its own app and sweeper.
        return self.create_app()
