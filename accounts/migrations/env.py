"""Alembic's entry point for artproxy: migrations run on the connection database.migrate()
hands over (Alembic's ``config.attributes["connection"]``), never from an alembic.ini."""

from __future__ import annotations

from alembic import context

from accounts.models import Base

connection = context.config.attributes["connection"]
# SQLite alters a table by copying it; batch mode lets the same migration run on both.
context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
