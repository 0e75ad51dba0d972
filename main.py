"""artproxy: a small, hardened HTTP proxy in front of a free AI art generator.

``python main.py`` checks the settings, then becomes ``gunicorn main:app`` with gunicorn.conf.py;
``python main.py --debug`` runs Flask's reloader and debugger on loopback only.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import socket
import sys
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from flask import Flask

import cleanup
import config
import jobs
import logs
import web
from config import PROJECT_DIR
from metrics import create_metrics, instance_state
from prompt_cache import PromptCache, cache_state
from service import ImageService

if TYPE_CHECKING:
    from accounts.store import AccountStore
    from clock import Clock

log = logging.getLogger("artproxy")
# Ended jobs are never served past their time (every read checks it); the sweep only frees room.
JOB_SWEEP_SECONDS = 30
# Old history, ended sessions and abandoned sign-ins are never shown: the sweep frees the room,
# and pays back the credits of jobs lost with their runners.
ACCOUNTS_SWEEP_SECONDS = 600


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: defaults, then ARTPROXY_* variables, then ``test_config``.

    ``test_config`` may also hold CLOCK, a function returning unix seconds, to control time.
    """
    # /static/ holds the page's files (web/page.py serves the page at /app).
    app = Flask(__name__, static_folder="web/static", static_url_path="/static")
    app.config.update(config.load(os.environ))
    app.config.update(test_config or {})

    metrics = create_metrics(app.config["METRICS"])
    service = ImageService.from_config(app.config, app.config.get("CLOCK", time.time), metrics)
    app.extensions["artproxy"] = service
    app.extensions["artproxy_metrics"] = metrics
    job_queue = jobs.create_queue(app.config, service)
    app.extensions["artproxy_jobs"] = job_queue
    prompt_cache = PromptCache.from_config(app.config, service)
    app.extensions["artproxy_prompt_cache"] = prompt_cache
    if metrics.enabled:
        metrics.watch(instance_state(service, job_queue))
        if app.config["PROMPT_URLS"]:
            metrics.watch(cache_state(prompt_cache))
    accounts = open_accounts(app.config, service.clock)
    if accounts is not None:
        app.extensions["artproxy_accounts"] = service.accounts = accounts
    web.init_app(app)
    if app.config["SWEEP_ENABLED"]:
        # Named by the store's repr (its folder), so a second app on the same folder replaces
        # the job instead of sweeping twice.
        if service.store.needs_sweeping:
            cleanup.start_sweeping(f"sweep:{service.store!r}", service.store,
                                   app.config["SWEEP_INTERVAL"])
        if isinstance(job_queue, cleanup.Sweepable):
            cleanup.start_sweeping(f"jobs:{job_queue!r}", job_queue, JOB_SWEEP_SECONDS)
        if accounts is not None:
            cleanup.start_sweeping(f"accounts:{accounts.engine.url!r}", accounts,
                                   ACCOUNTS_SWEEP_SECONDS)
    job_queue.start_runners()
    return app


def open_accounts(settings: Mapping[str, Any], clock: Clock) -> AccountStore | None:
    """The accounts' store, its database brought up to date; None without sign-in providers,
    and then no database is touched."""
    if not settings["SIGNIN"]:
        return None
    from accounts import database
    from accounts.store import AccountStore

    engine = database.connect(database.database_url(settings))
    database.migrate_if_behind(engine)
    # A job's credit is held until it ends; past this, it surely will not (jobs/__init__.py).
    longest_job = jobs.QUEUED_JOB_TTL_SECONDS + config.job_timeout_seconds(settings) + 60
    return AccountStore.from_config(engine, settings, clock, longest_job)


def __getattr__(name: str) -> Any:
    # `gunicorn main:app` asks for `app`; building it only then keeps `import main` free of
    # side effects (no scheduler, no folder) for tests and tools.
    if name == "app":
        config.load_env_file(PROJECT_DIR / ".env")
        logs.configure(config.load(os.environ)["LOG_FORMAT"])  # gunicorn.conf.py checked them
        globals()["app"] = create_app()
        return globals()["app"]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the artproxy image proxy.")
    parser.add_argument("command", nargs="?", choices=["worker", "migrate"],
                        help="worker: run jobs (POST /jobs) instead of serving HTTP; migrate: "
                             "bring the accounts' database up to date and exit")
    parser.add_argument("--debug", action="store_true",
                        help="Flask's development server with reloader and debugger "
                             "(loopback only)")
    arguments = parser.parse_args(argv)
    config.load_env_file(PROJECT_DIR / ".env")
    try:
        settings = config.load(os.environ)
        logs.configure(settings["LOG_FORMAT"])
        # Checked once, before any worker starts: a worker that found the disk full when it
        # (re)started must answer 503s, not fail to boot and stop the whole server.
        config.check_state_folder(settings)
        if arguments.command == "migrate":
            return migrate_accounts(settings)
        if arguments.debug:
            return run_debug_server(*config.server_address(os.environ))
        if arguments.command != "worker":  # a worker listens on no port
            check_port_free(*config.server_address(os.environ))
        # Fail here, readably, on a bad setting.
        checked = create_app({"SWEEP_ENABLED": False, "RUN_JOBS": False})
        if arguments.command == "worker":
            from jobs.worker import run_workers

            return run_workers(checked.config, checked.extensions["artproxy"],
                               checked.extensions["artproxy_jobs"])
    except config.ConfigError as error:
        print(f"artproxy: {error}", file=sys.stderr)
        return 2
    # Replace this process with gunicorn, so `python main.py` and `gunicorn main:app` are the same
    # server: same pid for whoever sends SIGTERM, and a master that has imported nothing of the
    # app, so each gevent worker patches the standard library before the app's modules load.
    os.execv(sys.executable, [sys.executable, "-m", "gunicorn", "--config",
                              str(PROJECT_DIR / "gunicorn.conf.py"), "--chdir", str(PROJECT_DIR),
                              "main:app"])


def migrate_accounts(settings: dict[str, Any]) -> int:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from accounts import database

    url = database.database_url(settings)
    shown = make_url(url).render_as_string(hide_password=True)
    try:
        engine = database.connect(url)
        database.migrate(engine)
        version = database.schema_version(engine)
    except SQLAlchemyError as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        print(f"artproxy: cannot migrate the accounts' database {shown}: {reason}",
              file=sys.stderr)
        return 1
    print(f"artproxy: the accounts' database {shown} is at migration {version}")
    return 0


def check_port_free(host: str, port: int) -> None:
    """ConfigError if the address is taken, in one line, rather than gunicorn's dozen."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
        try:
            probe.bind((host.strip("[]"), port))
        except OSError as error:
            raise config.ConfigError(f"cannot listen on {host}:{port}: "
                                     f"{error.strerror or error}") from None


def run_debug_server(host: str, port: int) -> int:
    from werkzeug.serving import is_running_from_reloader, run_simple

    if not is_loopback(host):
        # The debugger runs any Python a visitor types: never on a reachable address.
        print(f"artproxy: --debug only listens on loopback, not HOST={host}", file=sys.stderr)
        return 2
    # The reloader's first process only watches files and restarts the second, which serves;
    # only the serving process builds the app, so only it runs a sweeper.
    app = create_app() if is_running_from_reloader() else None
    if app is not None:
        log.info("artproxy (debug server): %s", config.summary(app.config))
    run_simple(host, port, app, use_reloader=True, use_debugger=True,  # type: ignore[arg-type]
               threaded=True)  # (the reloader's first process never serves: no app there)
    return 0


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


if __name__ == "__main__":
    sys.exit(main())
