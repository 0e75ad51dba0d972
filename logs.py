"""Log lines that say which request they belong to, as text or as one JSON object per line;
what a failure's line says (log_failure: its cause by type, never a prompt); and faults that
last, said once a minute (Occasionally).

The request id (web/observability.py sets it for each request) lives in a context variable,
which gevent keeps apart per greenlet, so each log line carries its own request's id.
"""

from __future__ import annotations

import contextvars
import json
import logging
import time

from clock import iso_time
from errors import ArtproxyError

log = logging.getLogger("artproxy")
REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("artproxy_request_id",
                                                                        default=None)
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"


class WithRequestId(logging.Filter):
    """Gives every record a ``request_id`` ("-" outside a request) for formats to use."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, process, request_id."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": iso_time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        request_id = getattr(record, "request_id", None) or REQUEST_ID.get()
        if request_id and request_id != "-":
            entry["request_id"] = request_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure(log_format: str) -> None:
    """Root logging for artproxy's own lines, once per process."""
    # The HTTP client under the openai SDK logs every call at INFO: a line per request (12,400
    # in one run of bench/ target L). A failed call reaches the log as artproxy's own error.
    # Alembic tells each plugin and step of a migration; `main.py migrate` says where it ended.
    for chatty in ("httpx", "httpx2", "alembic"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler()
    handler.addFilter(WithRequestId())
    handler.setFormatter(JsonFormatter() if log_format == "json"
                         else logging.Formatter(TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def gunicorn_json_config() -> dict:
    """gunicorn's logconfig_dict for ARTPROXY_LOG_FORMAT=json: its lines and artproxy's as JSON,
    each once (gunicorn's loggers do not also pass theirs to the root's handler)."""
    def handler(stream: str) -> dict:
        return {"class": "logging.StreamHandler", "formatter": "json", "filters": ["request_id"],
                "stream": f"ext://sys.{stream}"}

    return {
        "version": 1,
        "disable_existing_loggers": False,
        "root": {"level": "INFO", "handlers": ["console"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["error_console"], "propagate": False,
                               "qualname": "gunicorn.error"},
            "gunicorn.access": {"level": "INFO", "handlers": ["console"], "propagate": False,
                                "qualname": "gunicorn.access"},
        },
        "handlers": {"console": handler("stdout"), "error_console": handler("stderr")},
        "filters": {"request_id": {"()": "logs.WithRequestId"}},
        "formatters": {"json": {"()": "logs.JsonFormatter"}},
    }


class Occasionally:
    """A logger that says a thing at most once per ``every_seconds`` (per message), and how many
    times it held back: a fault that lasts (a state folder gone read-only, Redis down) is one
    line a minute, not one per request or per poll."""

    def __init__(self, logger: logging.Logger, every_seconds: float):
        self.logger = logger
        self.every_seconds = every_seconds
        self._last: dict[str, tuple[float, int]] = {}  # message -> (when said, held back since)

    def warning(self, message: str, *args: object) -> None:
        now = time.monotonic()
        said_at, held_back = self._last.get(message, (float("-inf"), 0))
        if now - said_at < self.every_seconds:
            self._last[message] = (said_at, held_back + 1)
            return
        self._last[message] = (now, 0)
        suffix = f" (and {held_back} more like it)" if held_back else ""
        self.logger.warning(message + suffix, *args)


quietly = Occasionally(log, every_seconds=60)


def log_failure(error: ArtproxyError, where: str) -> None:
    """Failures that are ours or the upstream's are logged with their cause; the caller's are
    not. A refusal that can come on every request while it lasts (a full queue) is said once a
    minute."""
    if error.status_code < 500:
        return
    cause = error.__cause__
    detail = f" (cause: {described(cause)})" if cause else ""
    say = quietly.warning if error.said_once_a_minute else log.warning
    say("%s -> %d %s: %s%s", where, error.status_code, error.code, error.message, detail)


def described(cause: BaseException) -> str:
    """What failed, by the types of the exceptions it wraps and the system's own words; never
    their messages, which for a transport error hold the upstream URL, and in it a prompt."""
    names: list[str] = []
    current: object = cause
    while isinstance(current, BaseException) and len(names) < 6:
        name = type(current).__name__
        if isinstance(current, OSError) and current.strerror:
            name += f" ({current.strerror})"
        names.append(name)
        wrapped = [getattr(current, "reason", None), current.__cause__, current.__context__,
                   *current.args]
        current = next((inner for inner in wrapped if isinstance(inner, BaseException)
                        and type(inner).__name__ not in names), None)
    return " <- ".join(names)
