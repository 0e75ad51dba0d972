"""Each accounts test runs on SQLite and on a real PostgreSQL server (one per session, a new
database per test)."""

from __future__ import annotations

import secrets

import pytest

from testing.postgres_server import PostgresServer


@pytest.fixture(scope="session")
def postgres_server():
    with PostgresServer() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def database_setting(request, tmp_path) -> str:
    """An empty database, as ARTPROXY_DATABASE_URL would name it."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'accounts.sqlite'}"
    server = request.getfixturevalue("postgres_server")
    return server.new_database(f"test_{secrets.token_hex(6)}")
