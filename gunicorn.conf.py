"""Production server settings, read by `gunicorn main:app` and by `python main.py`."""

import gc
import os
import secrets
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
# Imported by name: every top-level name here is read as a gunicorn setting, and `config` is one.
from capacity import connections_per_worker, raise_open_file_limit  # noqa: E402
from config import (  # noqa: E402
    ConfigError,
    check_state_folder,
    load,
    load_env_file,
    server_address,
    summary,
)
from generator_client import check_providers  # noqa: E402
from jobs import process_is_gone  # noqa: E402
from logs import gunicorn_json_config  # noqa: E402

load_env_file(Path(__file__).resolve().parent / ".env")
try:
    _host, _port = server_address(os.environ)
    _settings = load(os.environ)
    # Names and required settings only: the master must not import the app's modules (each
    # gevent worker patches the standard library first).
    check_providers(_settings)
    check_state_folder(_settings)
except ConfigError as _error:  # `gunicorn main:app` with a bad setting: one line, as main.py does
    print(f"artproxy: {_error}", file=sys.stderr)
    sys.exit(2)
bind = [f"[{_host}]:{_port}" if ":" in _host else f"{_host}:{_port}"]

# Chosen by `bench/run --compare` (BENCHMARKS.md), 2 cores, 1000 clients on a 2 s upstream:
# gthread 2x32 threads took 36.8 s; 2x500 threads took 6.5 s and 410 MB; gevent with 2
# workers took 3.9 s and 179 MB, and served /generate at 72-89 req/s against 48-53 req/s
# for gthread. A waiting upstream call costs a greenlet of a few KB; the CPU work
# (decoding, PNG encoding) needs one process per core; 4 workers bought nothing
# beyond the run-to-run spread but cost 100 MB more.
# gunicorn's gevent worker with the kernel's sendfile for stored images (sendfile_worker.py).
worker_class = "sendfile_worker.GeventSendfileWorker"
workers = int(os.environ.get("WEB_CONCURRENCY", os.cpu_count() or 1))
# At most 1000 requests per worker, fewer if the open-file limit cannot hold two descriptors each
# (a client and an upstream connection; capacity.py). The master lifts the soft limit first,
# and the workers inherit it.
worker_connections = connections_per_worker(raise_open_file_limit())
# Connections the kernel queues before a worker accepts them: room for a burst of a thousand.
backlog = 2048
keepalive = 5
# On SIGTERM, in-flight requests get time to finish: at least the upstream's 60 s default.
graceful_timeout = 75
timeout = 120
# The prompt travels in the query string: 1000 characters of non-Latin text percent-encode to
# up to 12,000 bytes, past gunicorn's 8190 maximum, and 0 means unlimited (a 16 MiB line took
# 26 s of CPU). sendfile_worker.py sizes the line from ARTPROXY_MAX_PROMPT_CHARS instead; this
# is the limit for gunicorn's own workers (`bench/run --compare`).
limit_request_line = 8190
# Headers: gunicorn's defaults (100 fields of 8190 bytes) are kept; too many or too long is a 431.
# No access log by default, as in gunicorn itself: writing one line per request cost 10% of the
# stored-image throughput in bench/ target 3 (1594 against 1762 req/s). Errors are still logged.
# Turn it on with GUNICORN_CMD_ARGS="--access-logfile -" (read by `python main.py` too).
accesslog = None
# artproxy does not use gunicorn's control socket, and two instances on one machine would
# contend for its single default path.
control_socket_disable = True


if _settings["LOG_FORMAT"] == "json":
    logconfig_dict = gunicorn_json_config()

METRICS_FOLDER_PREFIX = "artproxy-metrics-"


def post_fork(server: Any, worker: Any) -> None:
    # With --preload the app, and its expiry sweeps, were made in the master; a worker runs
    # them in a scheduler of its own. Without it cleanup is not imported yet, and must not be
    # before the worker patches the standard library.
    preloaded_cleanup = sys.modules.get("cleanup")
    if preloaded_cleanup is not None:
        preloaded_cleanup.restart_after_fork()


def post_worker_init(worker: Any) -> None:
    # What the worker has loaded by now (the app, the SDKs, their modules and classes) lives as
    # long as the worker: the collector leaves it alone from here on. Before, each of its full
    # collections walked all of it, holding the worker's loop 90 to 125 ms a few times a minute
    # under load with the openai provider (bench/ target L).
    gc.freeze()


def remove_folders_of_stopped_masters(folder: Path) -> None:
    """A master removes its metrics folder when it exits; one that was killed could not. Its
    folder names its pid, so the next start on this machine removes it once that pid is gone."""
    for leftover in folder.glob(f"{METRICS_FOLDER_PREFIX}*-*"):
        pid = leftover.name.removeprefix(METRICS_FOLDER_PREFIX).split("-", 1)[0]
        if (pid.isdigit() and leftover.stat().st_uid == os.getuid()
                and process_is_gone(int(pid))):
            shutil.rmtree(leftover, ignore_errors=True)


# Metrics: every worker writes its samples to files in one folder, which /metrics adds up
# (prometheus_client's multiprocess mode). The folder starts empty at each start, so counts
# start at zero, and workers inherit the variable that names it.
_metrics_folder_made = None
if _settings["METRICS"]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        for _old_samples in Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).glob("*.db"):
            _old_samples.unlink()
    else:
        remove_folders_of_stopped_masters(Path(tempfile.gettempdir()))
        _metrics_folder_made = tempfile.mkdtemp(prefix=f"{METRICS_FOLDER_PREFIX}{os.getpid()}-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_folder_made


def on_exit(server: Any) -> None:
    if _metrics_folder_made:
        shutil.rmtree(_metrics_folder_made, ignore_errors=True)


if not os.environ.get("ARTPROXY_SECRET_KEY"):
    # One secret for all of this instance's workers, so a delete token given by one works on
    # the others; it dies with the instance, which when_ready says.
    os.environ["ARTPROXY_SECRET_KEY"] = secrets.token_hex(32)
    _secret_generated = True
else:
    _secret_generated = False


def when_ready(server: Any) -> None:
    # Once per instance, from the master: each worker builds its own app, and logging there
    # said everything once per process.
    server.log.info("artproxy: %s", summary(_settings))
    if _secret_generated:
        server.log.warning("artproxy: ARTPROXY_SECRET_KEY is not set: delete tokens work only "
                           "on this instance and only until it stops")
