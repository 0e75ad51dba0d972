"""Where accounts live: ARTPROXY_DATABASE_URL, a SQLite file in the state folder unless set.

SQLite needs nothing installed and serves one machine; PostgreSQL serves several instances.
The schema is Alembic's migrations (accounts/migrations), brought up to date by migrate() at
startup or by ``python main.py migrate``. Instances that start at the same moment take turns:
PostgreSQL's advisory lock, or a lock file beside the SQLite file, makes the first one migrate
and the others find nothing left to do.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url

from config import project_path

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
DEFAULT_FILE = "accounts.sqlite"
# pg_advisory_lock's key for migrations: any number no other lock on the database uses.
MIGRATION_LOCK = 0x61727470  # "artp"
SQLITE_BUSY_SECONDS = 30
# The newest migration in accounts/migrations/versions (a test holds the two together): a
# process that finds the database there starts without loading Alembic at all.
SCHEMA_HEAD = "0003"


def database_url(config: Mapping[str, Any]) -> str:
    """The URL to connect to. PostgreSQL URLs are taken as people write them
    (``postgresql://user@host:port/db``) and given the driver artproxy installs, psycopg 3,
    where SQLAlchemy would otherwise look for psycopg2."""
    url = config["DATABASE_URL"]
    if not url:
        return f"sqlite:///{project_path(config['STATE_DIR']) / DEFAULT_FILE}"
    for bare in ("postgresql://", "postgres://"):
        if url.startswith(bare):
            return "postgresql+psycopg://" + url.removeprefix(bare)
    return str(url)


def connect(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_SECONDS})
        event.listen(engine, "connect", sqlite_settings)
        return engine
    # A connection the server closed (a restart, an idle timeout) is found out before use.
    return create_engine(url, pool_pre_ping=True)


def sqlite_settings(connection: Any, _: Any) -> None:
    cursor = connection.cursor()
    # Readers never wait for the writer; deleting an account deletes what hangs from it.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def migrate(engine: Engine) -> None:
    """Bring the schema up to the newest migration, once, however many processes ask at once."""
    with engine.connect() as connection, migration_turn(connection):
        alembic_config = Config()
        alembic_config.set_main_option("script_location", str(MIGRATIONS))
        alembic_config.attributes["connection"] = connection
        command.upgrade(alembic_config, "head")
        connection.commit()


def migrate_if_behind(engine: Engine) -> None:
    """migrate() unless the schema is already at SCHEMA_HEAD: one small read in the usual case,
    when every worker of every instance starts on a database migrated before."""
    if schema_version(engine) != SCHEMA_HEAD:
        migrate(engine)


def schema_version(engine: Engine) -> str | None:
    """The newest migration applied, or None on a database never migrated."""
    with engine.connect() as connection:
        if not engine.dialect.has_table(connection, "alembic_version"):
            return None
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


@contextlib.contextmanager
def migration_turn(connection: Connection) -> Iterator[None]:
    """Hold the database's migration lock for the block."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
        connection.commit()
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
            connection.commit()
        return
    database_file = connection.engine.url.database
    if not database_file or database_file == ":memory:":
        yield  # a database of this process only
        return
    Path(database_file).parent.mkdir(parents=True, exist_ok=True)
    with open(f"{database_file}.migrating", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
