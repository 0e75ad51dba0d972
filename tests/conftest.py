from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

import cleanup
import jobs.runner
from main import create_app
from testing import FakeClock
from testing.fake_upstream import FakeUpstream
from tests.real_server import Children, stop_all


@pytest.fixture(autouse=True)
def no_artproxy_environment(monkeypatch):
    """Tests see the defaults plus what they set, never the developer's own ARTPROXY_* values."""
    for name in list(os.environ):
        if name.startswith("ARTPROXY_"):
            monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def stop_sweeper_and_runners_after_test():
    yield
    cleanup.stop_sweeping()
    jobs.runner.stop_all()


@pytest.fixture
def processes(tmp_path):
    """Child processes a test starts; stopped, with their whole group, at the end."""
    started = Children(tmp_path)
    yield started
    stop_all(started)


@pytest.fixture
def upstream():
    with FakeUpstream() as server:
        yield server


@pytest.fixture
def image_dir(tmp_path) -> Path:
    directory = tmp_path / "images"
    directory.mkdir()
    return directory


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_app(upstream, image_dir, tmp_path):
    """Build an app against the fake upstream; keyword arguments override settings."""

    def build(**overrides):
        settings = {
            "PROVIDER": ("magicstudio",),
            "MAGICSTUDIO_URL": upstream.url,
            "IMAGE_DIR": str(image_dir),
            "STATE_DIR": str(tmp_path / "state"),
            "SWEEP_ENABLED": False,
            "UPSTREAM_TIMEOUT": 5.0,
        }
        settings.update(overrides)
        return create_app(settings)

    return build


@pytest.fixture
def app(make_app, clock):
    return make_app(CLOCK=clock)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def serve():
    """Serve an app over real HTTP on 127.0.0.1; returns its base URL."""
    servers = []

    def start(app) -> str:
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def redis_server(tmp_path):
    from testing.redis_server import RedisServer

    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def make_redis_app(make_app, redis_server):
    """An app instance on the shared Redis; call it twice for two instances with no shared disk."""

    def build(**overrides):
        return make_app(STORAGE="redis", REDIS_URL=redis_server.url, **overrides)

    return build
